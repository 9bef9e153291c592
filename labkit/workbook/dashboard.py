"""The results dashboard's data and figures: trade-offs, Keras vs PyTorch, metric history, check status.

Notebook 99 shows these interactively and `labkit report` writes the same figures to files, so an
instructor gets them without opening Jupyter. Everything is computed from the ledger and the runner's
summaries; nothing here measures.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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
    """Every run id in the ledger, oldest first."""
    seen: dict[str, None] = {}
    for entry in records:
        seen.setdefault(entry["run_id"], None)
    return list(seen)


def _split_trade_off(metric: str) -> tuple[str, str, str] | None:
    """(technique key, framework, axis) for a trade-off metric such as quantization.keras.int8.speedup."""
    head, _, last = metric.rpartition(".")
    parts = head.split(".")
    if len(parts) < 2:
        return None
    for axis in TRADE_OFF_AXES:
        if last.endswith(axis):
            variant = last[: -len(axis)].rstrip("_")
            technique = ".".join([parts[0], *parts[2:], *([variant] if variant else [])])
            return technique, parts[1], axis
    return None


def trade_offs(records: Iterable[dict[str, Any]], framework: str | None = None) -> list[dict[str, Any]]:
    """One row per (technique, framework) that reports an accuracy drop, with its size and speed ratios.

    Built from the newest record of each metric; the size axis is `size_ratio` where a notebook measured
    file bytes directly and `gzip_ratio` (compressed bytes) where only that exists, as for pruning.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for metric, entry in newest(records).items():
        split = _split_trade_off(metric)
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


def changes(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per metric with two or more runs: the previous run's value, the latest, and the change in percent.

    Sorted by the size of the change, so the biggest moves (regressions or improvements) come first.
    """
    per_run: dict[str, dict[str, float]] = {}
    for entry in records:
        per_run.setdefault(entry["metric"], {})[entry["run_id"]] = entry["value"]
    rows = []
    for metric, values in per_run.items():
        if len(values) < 2:
            continue
        *_, previous, latest = values.values()
        if latest == previous:
            change = 0.0
        else:
            change = (latest - previous) / abs(previous) * 100.0 if previous else float("inf")
        rows.append(
            {
                "metric": metric,
                "runs": len(values),
                "previous": previous,
                "latest": latest,
                "change_pct": change,
            }
        )
    return sorted(rows, key=lambda r: -abs(r["change_pct"]))


def check_status(runs_dir: Path | None = None) -> list[dict[str, Any]]:
    """Each catalog notebook's newest runner result (status, checks passed, run id), or "not run"."""
    latest: dict[str, dict[str, Any]] = {}
    root = runs_dir or paths.runs_dir()
    summaries = sorted(root.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    for summary in summaries:
        try:
            rows = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        for row in rows:
            latest[row["notebook"]] = {**row, "run_id": summary.parent.name}
    return [
        latest.get(name, {"notebook": name, "status": "not run", "checks_passed": 0, "run_id": ""})
        for name in catalog.SERIES
    ]


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
    ax.set_xlabel("test accuracy")
    fig.tight_layout()
    return fig


def trade_off_figure(rows: list[dict[str, Any]]):
    """Accuracy drop against size reduction and against speed-up, one marker per framework."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    markers = {"keras": ("o", "#4c72b0"), "torch": ("s", "#dd8452")}
    for ax, axis, label in (
        (axes[0], "size", "smaller by (x, file or gzip bytes)"),
        (axes[1], "speedup", "faster by (x)"),
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
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy drop (points)")
        ax.set_title(f"accuracy vs {'size' if axis == 'size' else 'latency'} ({len(shown)} techniques)")
        if shown:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def history_figure(rows: list[dict[str, Any]], metric: str):
    """One metric's value in each run, oldest left, with the run ids as tick labels."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3), dpi=80)
    ax.plot(range(len(rows)), [r["value"] for r in rows], marker="o")
    ax.set_xticks(range(len(rows)), [r["run_id"][-11:] for r in rows], rotation=45, ha="right", fontsize=7)
    unit = rows[0]["unit"] if rows else ""
    ax.set_ylabel(unit)
    ax.set_title(f"{metric}: {len(rows)} records")
    fig.tight_layout()
    return fig
