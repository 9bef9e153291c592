"""Text generated from the catalog: each notebook's `parameters` cell and the instructor guide's tables.

The catalog is the single source; `labkit params --write-cells` and `--doc` write these, and the tests fail
when a notebook's cell or the guide differs from what is generated here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

from labkit.core import files
from labkit.workbook.catalog import SERIES, entry
from labkit.workbook.params import Param

DOC_START, DOC_END = "<!-- labkit params: start -->", "<!-- labkit params: end -->"


def _literal(value: Any) -> str:
    """A Python literal as ruff formats it: strings in double quotes."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _line(p: Param) -> str:
    return f"{p.name} = {_literal(p.default)}  # {p.help}"


def parameters_cell(notebook: str) -> str:
    """The source of a notebook's `parameters` cell: one `name = default  # help` line per parameter."""
    return "\n".join(_line(p) for p in entry(notebook).params)


def _parameters_cell_of(nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{path} has {len(cells)} cells tagged 'parameters'; it needs exactly one.")
    return cells[0]


def _stale(notebooks_dir: Path) -> Iterator[tuple[str, Path, nbformat.NotebookNode, nbformat.NotebookNode]]:
    """(name, path, notebook, its parameters cell) for each notebook whose cell differs from the catalog's."""
    for name in SERIES:
        path = notebooks_dir / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = _parameters_cell_of(nb, path)
        if cell.source != parameters_cell(name):
            yield name, path, nb, cell


def stale_cells(notebooks_dir: Path) -> list[str]:
    """The notebooks whose parameters cell differs from the catalog's, by file stem."""
    return [name for name, *_ in _stale(notebooks_dir)]


def write_cells(notebooks_dir: Path) -> list[Path]:
    """Rewrite every stale parameters cell from the catalog (atomically); return the files changed."""
    changed = []
    for name, path, nb, cell in _stale(notebooks_dir):
        cell.source = parameters_cell(name)
        files.write_atomic(path, nbformat.writes(nb) + "\n")
        changed.append(path)
    return changed


def markdown() -> str:
    """Every notebook's parameters as markdown tables: the reference section of docs/instructors.md."""
    lines = []
    for entry_ in SERIES.values():
        lines += [
            f"### {entry_.name}",
            "",
            entry_.title,
            "",
            "| parameter | type | default | full | allowed | what |",
            "|---|---|---|---|---|---|",
        ]
        for p in entry_.params:
            full = p.value_for("full")
            lines.append(
                f"| `{p.name}` | {p.kind.__name__} | `{p.default!r}` | "
                f"{f'`{full!r}`' if full != p.default else ''} | {p.allowed()} | {p.help} |"
            )
        lines.append("")
    return "\n".join(lines)


def _replace_section(path: Path, *, start: str, end: str, body: str) -> Path:
    """Replace what lies between two marker lines of `path` with `body` (written atomically)."""
    text = path.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise ValueError(f"{path} lacks the markers {start} and {end} around its generated section.")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    return files.write_atomic(path, f"{head}{start}\n{body}\n{end}{tail}")


def write_params_doc(path: Path) -> Path:
    """Replace the generated section between the markers of `path` with `markdown()` (written atomically)."""
    return _replace_section(path, start=DOC_START, end=DOC_END, body=markdown())


TIMES_START, TIMES_END = "<!-- run times: start -->", "<!-- run times: end -->"


def run_times_markdown(run_id: str, machine: str, rows: list[dict[str, Any]]) -> str:
    """The committed run's seconds and peak memory per notebook, as the instructor guide shows them."""
    lines = [
        f"The run behind the committed outputs, `{run_id}`, on {machine}:",
        "",
        "| notebook | status | seconds | peak MB | checks passed |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['notebook']} | {r['status']} | {r['seconds']:.0f} | {r['peak_memory_mb']:.0f} "
        f"| {r['checks_passed']} |"
        for r in rows
    ]
    total = sum(r["seconds"] for r in rows) / 60
    lines.append(
        f"| **series** | | **{total:.1f} min** | **{max(r['peak_memory_mb'] for r in rows):.0f}** | |"
    )
    return "\n".join(lines)


def write_run_times(path: Path, *, run_id: str, machine: str, rows: list[dict[str, Any]]) -> Path:
    """Replace the guide's run-times section with the table of one run."""
    body = run_times_markdown(run_id, machine, rows)
    return _replace_section(path, start=TIMES_START, end=TIMES_END, body=body)
