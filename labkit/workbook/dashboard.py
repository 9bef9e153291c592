"""The results dashboard's data and figures: trade-offs, Keras vs PyTorch, metric history, check status.

Notebook 99 shows these interactively and `labkit report` writes the same figures to files, so an
instructor gets them without opening Jupyter. Everything is computed from the ledger, the check log of
interactive runs and the runner's summaries; nothing here measures.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labkit import ledger
from labkit.core import paths
from labkit.workbook import catalog

# Metric name endings that describe a compression or speed-up technique; each is an axis of its row.
TRADE_OFF_AXES = ("accuracy_drop_pts", "size_ratio", "gzip_ratio", "speedup")


def select(records: Iterable[dict[str, Any]], run_id: str | None = None) -> list[dict[str, Any]]:
    """The records of one run (all runs when run_id is None or empty), in ledger order."""
    return [r for r in records if not run_id or r.get("run_id") == run_id]


def newest(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest record of each metric name (the ledger is in time order)."""
    found: dict[str, dict[str, Any]] = {}
    for entry in records:
        found[entry["metric"]] = entry
    return found


def run_ids(records: Iterable[dict[str, Any]]) -> list[str]:
    """Every run id in the ledger, oldest first; the points of a sweep are shown by `sweep_summary`."""
    seen: dict[str, None] = {}
    for entry in records:
        if not entry.get("sweep_id"):
            seen.setdefault(entry["run_id"], None)
    return list(seen)


def _split_trade_off(metric: str, framework: str = "none") -> tuple[str, str, str] | None:
    """(technique key, framework, axis) for a trade-off metric such as quantization.keras.int8.speedup.

    The framework is the name's second part when it is one (`<topic>.<framework>.<what>`); names that
    put something else there (`runtimes.<model>.<runtime>...`) take the record's framework instead.
    """
    head, _, last = metric.rpartition(".")
    parts = head.split(".")
    if len(parts) < 2:
        return None
    named = parts[1] in catalog.FRAMEWORKS
    for axis in TRADE_OFF_AXES:
        if last.endswith(axis):
            variant = last[: -len(axis)].rstrip("_")
            rest = parts[2:] if named else parts[1:]
            technique = ".".join([parts[0], *rest, *([variant] if variant else [])])
            return technique, parts[1] if named else framework, axis
    return None


def trade_offs(records: Iterable[dict[str, Any]], framework: str | None = None) -> list[dict[str, Any]]:
    """One row per (technique, framework) that reports an accuracy drop, with its size and speed ratios.

    Built from the newest record of each metric; the size axis is `size_ratio` where a notebook measured
    file bytes directly and `gzip_ratio` (compressed bytes) where only that exists, as for pruning.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for metric, entry in newest(records).items():
        split = _split_trade_off(metric, entry.get("framework", "none"))
        if split is None or (framework and split[1] != framework):
            continue
        technique, fw, axis = split
        row = rows.setdefault((technique, fw), {"technique": technique, "framework": fw})
        row[axis] = entry["value"]
        row.setdefault("notebook", entry["notebook"])
    picked = [row for row in rows.values() if "accuracy_drop_pts" in row]
    for row in picked:
        row["size"] = row.get("size_ratio", row.get("gzip_ratio"))
        row["size_kind"] = "file" if "size_ratio" in row else ("gzip" if "gzip_ratio" in row else "")
    return sorted(picked, key=lambda r: (r["technique"], r["framework"]))


def history(records: Iterable[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Every record of one metric, oldest first: the series a regression shows up in."""
    return [r for r in records if r["metric"] == metric]


SERIES_MEASURED = tuple(name for name in catalog.SERIES if not name.startswith("99_"))


def notebooks_in(records: Iterable[dict[str, Any]], run_id: str) -> set[str]:
    """The notebooks that recorded at least one metric in a run."""
    return {r["notebook"] for r in records if r["run_id"] == run_id}


def choose_run(records: list[dict[str, Any]], requested: str = "") -> tuple[str, str]:
    """The one run to show and why: the requested one; else the run this notebook is part of (the runner
    or `labkit refresh` set LABKIT_RUN_ID); else the newest run in which every notebook recorded; else the
    newest run, said to be incomplete. ("", reason) when the ledger is empty."""
    runs = run_ids(records)
    total = len(SERIES_MEASURED)
    if requested:
        if requested not in runs:
            raise ValueError(
                f"run {requested!r} has no records in {paths.ledger_path()}; pick one of "
                f"{', '.join(runs[-5:]) or 'none (run the series first)'}."
            )
        covered = len(notebooks_in(records, requested) & set(SERIES_MEASURED))
        return requested, f"run {requested} (chosen by parameter; {covered} of {total} notebooks recorded)"
    current = os.environ.get("LABKIT_RUN_ID", "")
    if current in runs and notebooks_in(records, current) & set(SERIES_MEASURED):
        covered = len(notebooks_in(records, current) & set(SERIES_MEASURED))
        return (
            current,
            f"run {current}, the run this notebook is part of ({covered} of {total} notebooks recorded)",
        )
    complete = [r for r in runs if set(SERIES_MEASURED) <= notebooks_in(records, r)]
    if complete:
        return complete[-1], f"run {complete[-1]}, the newest run in which all {total} notebooks recorded"
    if runs:
        covered = len(notebooks_in(records, runs[-1]) & set(SERIES_MEASURED))
        return runs[-1], (
            f"run {runs[-1]}, the newest run; incomplete: {covered} of {total} notebooks recorded "
            "(`make run` records a complete one)"
        )
    return "", "no run yet: the ledger is empty"


def _params_key(entry: dict[str, Any]) -> str:
    """The parameters that produced a record, as a key: runs with equal keys measure the same thing."""
    shown = {k: v for k, v in (entry.get("params") or {}).items() if k != "reveal_solutions"}
    return json.dumps([entry.get("profile"), entry.get("device"), shown], sort_keys=True, default=str)


def noise_floor(values: list[float]) -> tuple[float, float] | None:
    """The 95% prediction interval of one more run from earlier runs' values (Student's t), or None with
    fewer than two. A value outside it moved more than run-to-run noise explains; a metric that never
    varied (an accuracy with a fixed seed) has a zero-width interval, so any change is flagged."""
    if len(values) < 2:
        return None
    from scipy import stats

    mean, std = statistics.fmean(values), statistics.stdev(values)
    half = float(stats.t.ppf(0.975, len(values) - 1)) * std * math.sqrt(1 + 1 / len(values))
    return mean - half, mean + half


def changes(records: list[dict[str, Any]], run_id: str = "") -> list[dict[str, Any]]:
    """Each metric of one run (default: the newest) against the earlier runs with the same parameters.

    A row holds the previous run's value, the change in percent, the noise floor of the earlier runs and
    whether the value lies beyond it (`beyond`). Moves beyond the noise come first, then by size.
    """
    runs = run_ids(records)
    run_id = run_id or (runs[-1] if runs else "")
    earlier_runs = set(runs[: runs.index(run_id)]) if run_id in runs else set()
    rows = []
    for metric, entry in newest(select(records, run_id)).items():
        key = _params_key(entry)
        earlier: dict[str, float] = {}
        for r in records:
            if r["metric"] == metric and r["run_id"] in earlier_runs and _params_key(r) == key:
                earlier[r["run_id"]] = r["value"]
        if not earlier:
            continue
        previous, latest = list(earlier.values())[-1], entry["value"]
        if latest == previous:
            change = 0.0
        else:
            change = (latest - previous) / abs(previous) * 100.0 if previous else math.inf
        floor = noise_floor(list(earlier.values()))
        rows.append(
            {
                "metric": metric,
                "runs": len(earlier) + 1,
                "previous": previous,
                "latest": latest,
                "change_pct": change,
                "floor": floor,
                "beyond": floor is not None and not floor[0] <= latest <= floor[1],
            }
        )
    return sorted(rows, key=lambda r: (not r["beyond"], -abs(r["change_pct"])))


def change_status(row: dict[str, Any]) -> str:
    """How a `changes` row reads: beyond or within the noise of its earlier runs, or no noise floor yet."""
    if row["floor"] is None:
        return "no noise floor yet (one earlier run)"
    low, high = row["floor"]
    verdict = "BEYOND the noise" if row["beyond"] else "within the noise"
    return f"{verdict} of {row['runs'] - 1} earlier runs ({low:.4g} to {high:.4g})"


_NOISY_UNITS = {"ms", "s", "x", "us", "samples/s", "requests/s", "MB"}


def default_history_metric(records: list[dict[str, Any]], run_id: str = "") -> str:
    """The metric 99 plots first: one that moved beyond its noise, else a test accuracy or another metric
    that is not a timing (timings move with machine load and hide a real change), else any."""
    moved = changes(records, run_id)
    if not moved:
        return ""
    steady = [m["metric"] for m in moved if _unit(records, m["metric"]) not in _NOISY_UNITS]
    flagged = [m["metric"] for m in moved if m["beyond"] and m["metric"] in steady]
    accuracies = [name for name in steady if name.endswith(".accuracy")]
    return (flagged or accuracies or steady or [moved[0]["metric"]])[0]


def _unit(records: list[dict[str, Any]], metric: str) -> str:
    return next((r["unit"] for r in records if r["metric"] == metric), "")


def run_dir(run_id: str, runs_dir: Path | None = None) -> Path:
    """Where the runner keeps a run's executed notebooks and summary.json."""
    return (runs_dir or paths.runs_dir()) / run_id


def check_status(
    run_id: str, runs_dir: Path | None = None, *, records: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Each catalog notebook's result in one run (status, checks passed) from its summary.json.

    A notebook the run did not execute but that a learner ran in JupyterLab reads "interactive", with the
    checks its newest interactive session passed (from the check log) and that session's run id; the rest
    read "not run", and 99 itself, while it runs, "running". `records` replaces reading the ledger.
    """
    summary = run_dir(run_id, runs_dir) / "summary.json" if run_id else None
    found: dict[str, dict[str, Any]] = {}
    if summary is not None and summary.exists():
        try:
            found = {row["notebook"]: row for row in json.loads(summary.read_text(encoding="utf-8"))}
        except (OSError, json.JSONDecodeError):
            found = {}
    records = ledger.read() if records is None else records
    sessions = interactive_sessions(records, ledger.read(paths.checks_path()))
    running = os.environ.get("LABKIT_RUN_ID") == run_id
    rows = []
    for name in catalog.SERIES:
        row = found.get(name)
        if row is not None:
            rows.append({**row, "run_id": run_id})
        elif name in sessions:
            rows.append({"notebook": name, "status": "interactive", "seconds": 0.0, **sessions[name]})
        else:
            status = "running" if running and name.startswith("99_") else "not run"
            rows.append(
                {"notebook": name, "status": status, "checks_passed": 0, "seconds": 0.0, "run_id": run_id}
            )
    return rows


def interactive_sessions(
    records: Iterable[dict[str, Any]], checks: Iterable[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per notebook, its newest interactive session (one that recorded a metric or passed a check):
    {"run_id", "checks_passed"}, counting each distinct claim once however often its cell ran."""
    newest: dict[str, str] = {}
    checks = list(checks)
    for entry in [*records, *checks]:  # in time order within each file; a later session wins
        run = str(entry.get("run_id", ""))
        if run.startswith("interactive-") and entry.get("notebook"):
            if run > newest.get(entry["notebook"], ""):
                newest[entry["notebook"]] = run
    return {
        notebook: {
            "run_id": run,
            "checks_passed": len(
                {c.get("claim") for c in checks if c.get("run_id") == run and c.get("notebook") == notebook}
            ),
        }
        for notebook, run in newest.items()
    }


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def accuracy_figure(rows: list[dict[str, Any]]):
    """Bar chart of every `*.accuracy` metric among `rows`, or None when there is none."""
    picked = [r for r in rows if r["metric"].endswith(".accuracy")]
    if not picked:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(picked) + 1.2), dpi=80)
    bars = ax.barh([r["metric"] for r in picked], [r["value"] for r in picked], color="#4c72b0")
    ax.bar_label(bars, fmt="%.4f", padding=3, fontsize=8)
    ax.set_xlim(min(0.8, min(r["value"] for r in picked)), 1.0)
    ax.set_xlabel("test accuracy (fraction of test images)")
    fig.tight_layout()
    return fig


def trade_off_figure(rows: list[dict[str, Any]]):
    """Accuracy drop against size reduction and against speed-up, one marker per framework; each point is
    one technique on one model. Better is to the right (smaller, faster) and down (less accuracy lost)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    markers = {"keras": ("o", "#4c72b0"), "torch": ("s", "#dd8452")}
    for ax, axis, label in (
        (axes[0], "size", "smaller by (x, file or gzip bytes; 1 = same size)"),
        (axes[1], "speedup", "faster by (x, p50 latency; 1 = same speed)"),
    ):
        shown = [r for r in rows if r.get(axis) is not None]
        for fw, (marker, colour) in markers.items():
            points = [r for r in shown if r["framework"] == fw]
            ax.scatter(
                [r[axis] for r in points],
                [r["accuracy_drop_pts"] for r in points],
                marker=marker,
                color=colour,
                label=fw,
            )
        for r in shown:
            ax.annotate(
                r["technique"],
                (r[axis], r["accuracy_drop_pts"]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.annotate(
            "better",
            xy=(0.97, 0.05),
            xytext=(0.75, 0.3),
            xycoords="axes fraction",
            arrowprops={"arrowstyle": "->", "color": "green"},
            color="green",
            fontsize=8,
        )
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy drop (points; below 0 = gained)")
        ax.set_title(f"accuracy vs {'size' if axis == 'size' else 'latency'} ({len(shown)} points)")
        if shown:
            ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def history_figure(rows: list[dict[str, Any]], metric: str, *, chosen: str = ""):
    """One metric's value in each run, oldest left, run ids as tick labels; the shown run is marked and
    the noise floor of the runs before it drawn as a band when there are two or more."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3), dpi=80)
    values = [r["value"] for r in rows]
    ax.plot(range(len(rows)), values, marker="o", label="value per run")
    ids = [r["run_id"] for r in rows]
    if chosen in ids:
        at = ids.index(chosen)
        ax.scatter([at], [values[at]], s=120, facecolors="none", edgecolors="red", label="shown run")
        floor = noise_floor(values[:at])
        if floor is not None:
            ax.axhspan(*floor, color="grey", alpha=0.2, label="noise floor of earlier runs (95%)")
    ax.set_xticks(range(len(rows)), [i[-11:] for i in ids], rotation=45, ha="right", fontsize=7)
    unit = rows[0]["unit"] if rows else ""
    ax.set_xlabel("run (oldest left)")
    ax.set_ylabel(f"value ({unit})" if unit else "value")
    ax.set_title(f"{metric}: {len(rows)} records")
    if rows:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
