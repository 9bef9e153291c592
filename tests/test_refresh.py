"""labkit refresh: one run of the whole series in a clean results folder, outputs copied only on success."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from labkit.core import paths
from labkit.workbook import catalog, cli, refresh

pytestmark = pytest.mark.slow

PARAMETERS = 'profile = "quick"\nseed = 0\ndevice = "auto"\nreveal_solutions = False'


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.setattr(paths, "notebooks_dir", lambda: notebooks)
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)  # the real guide and report stay as committed
    monkeypatch.setenv("LABKIT_RESULTS_DIR", str(tmp_path / "results"))
    for name in ("90_first", "91_second", "92_broken"):
        monkeypatch.setitem(catalog.SERIES, name, catalog.NotebookEntry(name, name, catalog.COMMON))
    for key in ("LABKIT_RUN_ID", "LABKIT_REVEAL_SOLUTIONS"):
        monkeypatch.delenv(key, raising=False)
    return notebooks


SHOW = "import os\nprint('PASS: ran', os.environ['LABKIT_RUN_ID'], os.environ['LABKIT_REVEAL_SOLUTIONS'])"


def test_refresh_copies_one_runs_outputs_into_every_notebook(
    folder: Path, tmp_path: Path, notebook_writer: Callable[..., Path]
) -> None:
    first = notebook_writer(folder, "90_first", PARAMETERS, SHOW)
    second = notebook_writer(folder, "91_second", PARAMETERS, SHOW)
    run_dir, outcomes = refresh.refresh(timeout_s=120, progress=False)
    assert [(o.notebook, o.status, o.checks_passed) for o in outcomes] == [
        ("90_first", "ok", 1),
        ("91_second", "ok", 1),
    ], outcomes
    printed = [nbformat.read(p, as_version=4).cells[1].outputs[0]["text"] for p in (first, second)]
    assert printed == [f"PASS: ran {run_dir.name} 1\n"] * 2, printed
    assert run_dir.parent.parent == tmp_path / "results" / "refresh" / run_dir.name, run_dir
    assert "injected-parameters" not in first.read_text(), (
        "papermill must not add a cell to a committed notebook"
    )


def test_a_failed_refresh_changes_no_notebook(
    folder: Path, capsys: pytest.CaptureFixture[str], notebook_writer: Callable[..., Path]
) -> None:
    first = notebook_writer(folder, "90_first", PARAMETERS, SHOW)
    notebook_writer(folder, "92_broken", PARAMETERS, "raise ValueError('lesson broke')")
    before = first.read_text()
    assert cli.main(["refresh", "--no-progress"]) == 1
    assert "failed in 92_broken (failed: cell" in capsys.readouterr().err
    assert first.read_text() == before


def test_refresh_refuses_a_subset() -> None:
    assert cli.main(["refresh", "02"]) == 2


def test_the_runs_report_is_published_with_its_figures_only(tmp_path: Path) -> None:
    results, docs = tmp_path / "results", tmp_path / "docs"
    (results / "report_files").mkdir(parents=True)
    (results / "report.md").write_text("# Workbook results\n\nShowing run r1.\n\n![a](report_files/a.png)\n")
    (results / "report_files" / "a.png").write_bytes(b"new figure")
    (docs / "report_files").mkdir(parents=True)
    (docs / "report_files" / "old.png").write_bytes(b"a figure the new report does not draw")
    assert refresh.publish_report(results, docs) == docs / "report.md"
    assert (docs / "report.md").read_text().startswith("# Workbook results\n\nShowing run r1."), "report"
    figures = sorted(p.name for p in (docs / "report_files").iterdir())
    assert figures == ["a.png"], f"published figures {figures}, expected only the report's ['a.png']"
    assert refresh.publish_report(tmp_path / "no-run", docs) is None, "a run without a report"
