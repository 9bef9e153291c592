"""`labkit refresh`: the committed outputs come from one run of the whole series, in a clean results folder.

The series runs through the runner (one run id, 99 last, reference solutions applied, each notebook with
the parameters cell as committed) with `results/refresh/<run-id>/` as its results folder, so no earlier
record or artifact can leak into it. Only when every notebook succeeded are the outputs copied into the
notebooks, cell by cell, the instructor guide's run-times table rewritten and the run's report (first
written by notebook 99, rebuilt once the run has finished) copied to `docs/report.md`, where the website
shows it; a failed run changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import nbformat

from labkit.core import envinfo, files, paths
from labkit.exercise import REVEAL_ENV
from labkit.workbook import generated, report, runner

SERIES_ONLY = "refresh executes the whole series as one run; it takes no notebook names."


def copy_outputs(executed: Path, target: Path) -> None:
    """Copy each executed cell's outputs and execution count into the committed notebook (same cells)."""
    _write_outputs(*_same_cells(executed, target), target=target)


def _same_cells(executed: Path, target: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """Both notebooks, or ValueError when the committed one's cells changed while the run went on."""
    ran = nbformat.read(executed, as_version=4)
    committed = nbformat.read(target, as_version=4)
    if [c.get("id") for c in ran.cells] != [c.get("id") for c in committed.cells]:
        raise ValueError(f"{target.name} changed while it ran (its cells differ); refresh again.")
    return ran, committed


def _write_outputs(ran: nbformat.NotebookNode, committed: nbformat.NotebookNode, *, target: Path) -> None:
    for source, cell in zip(ran.cells, committed.cells, strict=True):
        cell.metadata.pop("execution", None)  # timestamps of an old execution, not of this run
        if cell.cell_type == "code":
            cell.outputs = source.outputs
            cell.execution_count = source.execution_count
    files.write_atomic(target, nbformat.writes(committed) + "\n")


def publish_report(results: Path, docs: Path) -> Path | None:
    """Copy the run's `report.md` and its figures into `docs/` (figures of an older report removed)."""
    written = results / "report.md"
    if not written.is_file():
        return None
    figures = docs / "report_files"
    figures.mkdir(parents=True, exist_ok=True)
    for stale in figures.glob("*.png"):
        stale.unlink()
    for figure in sorted((results / "report_files").glob("*.png")):
        files.write_atomic(figures / figure.name, figure.read_bytes())
    return files.write_atomic(docs / "report.md", written.read_text(encoding="utf-8"))


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the run and put the old ones back after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def refresh(*, timeout_s: float, progress: bool = True) -> tuple[Path, list[runner.NotebookResult]]:
    """Run the series once in a clean results folder; copy the outputs back only if all succeeded."""
    run_id = f"refresh-{runner.new_run_id()}"
    results = paths.results_dir() / "refresh" / run_id
    results.mkdir(parents=True)
    with _environment(LABKIT_RESULTS_DIR=str(results), LABKIT_RUN_ID=run_id, **{REVEAL_ENV: "1"}):
        run_dir, outcomes = runner.run(run_id=run_id, timeout_s=timeout_s, progress=progress, inject=False)
        failed = [f"{o.notebook} ({o.status}: {o.error})" for o in outcomes if o.status != "ok"]
        if not failed and (results / "report.md").exists():
            report.build_headless(run_id)  # again, now that 99 has finished too
    if failed:
        raise RuntimeError(f"refresh run {run_id} failed in {'; '.join(failed)}; no notebook was changed.")
    # Every notebook is read and checked before any is written: all change, or none.
    checked = [(_same_cells(run_dir / nb.name, nb), nb) for nb in runner.resolve([])]
    for (ran, committed), notebook in checked:
        _write_outputs(ran, committed, target=notebook)
    docs = paths.repo_root() / "docs"
    publish_report(results, docs)
    guide = docs / "instructors.md"
    if guide.exists():
        machine = f"{envinfo.cpu_model()}, {envinfo.usable_cpus()} CPUs"
        generated.write_run_times(guide, run_id=run_id, machine=machine, rows=[asdict(o) for o in outcomes])
    return run_dir, outcomes
