"""`labkit report`: the ledger and the runner's summaries turned into `results/report.md` with figures.

The figures are notebook 99's, drawn by `labkit.workbook.dashboard`, so the report and the dashboard agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit import ledger
from labkit.core import files, paths
from labkit.workbook import dashboard, sweep

HISTORY_PLOTS = 4  # the metrics that moved most between runs get a history figure each


def run_metrics(records: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """The newest record of each metric of one run, sorted by name."""
    found = dashboard.newest(dashboard.select(records, run_id))
    return [found[name] for name in sorted(found)]


def _save(fig: Any, target: Path) -> Path:
    """Write a figure as a modest-DPI PNG and free it."""
    import matplotlib.pyplot as plt

    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
    plt.close(fig)
    return target


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table; columns holding only numbers are right-aligned, the others left-aligned."""
    numeric = [all(_is_number(row[i]) for row in rows if row[i]) for i in range(len(header))]
    rule = "|" + "".join("---:|" if n else "---|" for n in numeric)
    return ["| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(row) + " |" for row in rows]


def _cell(value: float | None) -> str:
    return "" if value is None else ledger.format_value(value)


def _status_section(run_id: str, records: list[dict[str, Any]]) -> list[str]:
    """The run's notebooks: status, time, peak memory and checks passed, from the runner's summary (and
    for notebooks run in JupyterLab instead, their newest interactive session)."""
    rows = [
        [
            s["notebook"],
            f"interactive ({s['run_id']})" if s["status"] == "interactive" else s["status"],
            f"{s.get('seconds', 0.0):.1f}" if s["status"] != "interactive" else "-",
            f"{s.get('peak_memory_mb', 0.0):.0f}" if s["status"] != "interactive" else "-",
            str(s["checks_passed"]),
        ]
        for s in dashboard.check_status(run_id, records=records)
    ]
    return ["## Self-check status of this run", ""] + _table(
        ["notebook", "status", "seconds", "peak memory (MB)", "checks passed"], rows
    )


def _trade_off_section(records: list[dict[str, Any]], figures: Path, out: Path) -> list[str]:
    rows = dashboard.trade_offs(records)
    if not rows:
        return []
    table = [
        [
            r["technique"],
            r["framework"],
            _cell(r["accuracy_drop_pts"]),
            _cell(r["size"]),
            r["size_kind"],
            _cell(r.get("speedup")),
        ]
        for r in rows
    ]
    plot = _save(dashboard.trade_off_figure(rows), figures / "trade_offs.png")
    return (
        ["## Trade-offs", ""]
        + _table(
            ["technique", "framework", "accuracy drop (pts)", "smaller by (x)", "bytes", "faster by (x)"],
            table,
        )
        + ["", f"![trade-offs]({plot.relative_to(out.parent)})"]
    )


def _frameworks_section(records: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            r["metric"],
            _cell(r["keras"] and r["keras"]["value"]),
            _cell(r["torch"] and r["torch"]["value"]),
            r["unit"],
        ]
        for r in ledger.side_by_side(records=records)
    ]
    return ["## Keras vs PyTorch", ""] + _table(["metric", "keras", "torch", "unit"], rows)


def _history_section(records: list[dict[str, Any]], run_id: str, *, figures: Path, out: Path) -> list[str]:
    moved = dashboard.changes(records, run_id)
    if not moved:
        return [
            "## History",
            "",
            "No earlier run with the same parameters recorded these metrics; history needs two.",
        ]
    lines = [
        "## History: this run against earlier runs with the same parameters",
        "",
        "A change counts only beyond the noise floor: the 95% prediction interval of the earlier runs.",
        "",
    ] + _table(
        ["metric", "runs", "previous", "this run", "change (%)", "noise"],
        [
            [
                m["metric"],
                str(m["runs"]),
                _cell(m["previous"]),
                _cell(m["latest"]),
                f"{m['change_pct']:+.1f}",
                dashboard.change_status(m),
            ]
            for m in moved[:15]
        ],
    )
    for m in moved[:HISTORY_PLOTS]:
        fig = dashboard.history_figure(dashboard.history(records, m["metric"]), m["metric"], chosen=run_id)
        plot = _save(fig, figures / f"history_{m['metric'].replace('.', '_')}.png")
        lines += ["", f"![{m['metric']}]({plot.relative_to(out.parent)})"]
    return lines


def _sweep_section(records: list[dict[str, Any]], *, figures: Path, out: Path) -> list[str]:
    """The newest sweep: each metric per setting as mean and spread over seeds, with a figure."""
    sweeps = sweep.sweep_ids(records)
    if not sweeps:
        return []
    rows = sweep.sweep_summary(records, sweeps[-1])
    lines = [f"## Sweep {sweeps[-1]}: mean and spread over seeds per setting", ""] + _table(
        ["metric", "setting", "seeds", "mean", "spread (sd)", "unit"],
        [
            [r["metric"], r["setting"], str(r["n"]), _cell(r["mean"]), _cell(r["spread"]), r["unit"]]
            for r in rows
        ],
    )
    if rows:
        plot = _save(sweep.sweep_figure(rows), figures / "sweep.png")
        lines += ["", f"![sweep]({plot.relative_to(out.parent)})"]
    return lines


def build(run_id: str | None = None) -> Path:
    """Write results/report.md for one run and return its path: the requested run, else the one
    `dashboard.choose_run` picks (never a mix of runs); the history compares it with earlier runs.

    Figures are saved without being shown, under whatever backend is active: a notebook calling this keeps
    its inline plots (the command line chooses Agg itself).
    """
    records = ledger.read()
    run_id, why = dashboard.choose_run(records, run_id or "")
    chosen = dashboard.select(records, run_id) if run_id else []
    rows = run_metrics(records, run_id) if run_id else []
    out = paths.results_dir() / "report.md"
    figures = paths.results_dir() / "report_files"
    for stale in figures.glob("*.png"):  # a figure the new report does not draw must not linger
        stale.unlink()
    lines = ["# Workbook results", "", f"Showing {why}.", "", *_status_section(run_id, records)]
    lines += ["", *_trade_off_section(chosen, figures, out), "", *_frameworks_section(chosen)]
    lines += ["", *_history_section(records, run_id, figures=figures, out=out), ""]
    lines += [*_sweep_section(records, figures=figures, out=out), ""]
    lines += [f"## Metrics of this run ({len(rows)}, from {paths.ledger_path().name})", ""] + _table(
        ["metric", "value", "unit", "framework", "notebook", "profile", "run"],
        [
            [
                r["metric"],
                ledger.format_value(r["value"]),
                r["unit"],
                r["framework"],
                r["notebook"],
                str(r["profile"]),
                r["run_id"],
            ]
            for r in rows
        ],
    )
    accuracy = dashboard.accuracy_figure(rows)
    if accuracy is not None:
        plot = _save(accuracy, figures / "accuracy.png")
        lines += ["", "## Accuracy", "", f"![accuracy]({plot.relative_to(out.parent)})"]
    return files.write_atomic(out, "\n".join(lines) + "\n")


def build_headless(run_id: str | None = None) -> Path:
    """`build` under matplotlib's Agg backend: the command line and `make refresh` have no window."""
    import matplotlib

    matplotlib.use("Agg")
    return build(run_id)
