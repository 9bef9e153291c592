"""`labkit report`: the ledger and the latest run turned into `results/report.md` with plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labkit import files, ledger, paths


def latest_run_dir() -> Path | None:
    """The most recent run directory that has a summary.json."""
    runs = sorted(paths.runs_dir().glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    return runs[-1].parent if runs else None


def latest_metrics(records: list[dict[str, Any]], run_id: str | None = None) -> list[dict[str, Any]]:
    """The newest record of each metric (of one run when run_id is given), sorted by name."""
    newest: dict[str, dict[str, Any]] = {}
    for entry in records:
        if run_id is None or entry.get("run_id") == run_id:
            newest[entry["metric"]] = entry
    return [newest[name] for name in sorted(newest)]


def _accuracy_plot(rows: list[dict[str, Any]], target: Path) -> Path | None:
    """Bar chart of every `*.accuracy` metric, the first trade-off a reader looks for."""
    picked = [r for r in rows if r["metric"].endswith(".accuracy")]
    if not picked:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.4 * len(picked) + 1.2), dpi=80)
    bars = ax.barh([r["metric"] for r in picked], [r["value"] for r in picked], color="#4c72b0")
    ax.bar_label(bars, fmt="%.4f", padding=3, fontsize=8)
    ax.set_xlim(min(0.8, min(r["value"] for r in picked)), 1.0)
    ax.set_xlabel("test accuracy")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
    plt.close(fig)
    return target


def build(run_id: str | None = None) -> Path:
    """Write results/report.md for a run (default: the latest) and return its path."""
    run_dir = paths.runs_dir() / run_id if run_id else latest_run_dir()
    records = ledger.read()
    if run_id is None and run_dir is not None:
        run_id = run_dir.name
    rows = latest_metrics(records, run_id) or latest_metrics(records)
    out = paths.results_dir() / "report.md"
    lines = ["# Workbook results", ""]
    if run_dir is not None and (run_dir / "summary.json").exists():
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        lines += [
            f"Run `{run_dir.name}` ({run_dir}).",
            "",
            "| notebook | status | seconds | peak RSS (MB) | checks passed |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {s['notebook']} | {s['status']} | {s['seconds']:.1f} | "
            f"{s['peak_rss_mb']:.0f} | {s['checks_passed']} |"
            for s in summary
        ]
        lines.append("")
    lines += [
        f"## Metrics ({len(rows)}, from {paths.ledger_path()})",
        "",
        "| metric | value | unit | framework | notebook | profile | run |",
        "|---|---:|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['metric']} | {ledger.format_value(r['value'])} | {r['unit']} | {r['framework']} | "
        f"{r['notebook']} | {r['profile']} | {r['run_id']} |"
        for r in rows
    ]
    plot = _accuracy_plot(rows, paths.results_dir() / "report_files" / "accuracy.png")
    if plot is not None:
        lines += ["", "## Accuracy", "", f"![accuracy]({plot.relative_to(out.parent)})"]
    return files.write_atomic(out, "\n".join(lines) + "\n")
