"""The committed notebooks: declared in the catalog, parameters in step, outputs clean."""

from __future__ import annotations

import ast
import json
import re
import shutil

import nbformat
import papermill
import pytest

from labkit.core import paths
from labkit.workbook import catalog, generated, params, runner

NOTEBOOKS = runner.available_notebooks()


def test_series_is_present_in_order() -> None:
    names = [p.stem for p in NOTEBOOKS]
    assert names[:2] == ["00_environment_check", "01_baseline_models"], names
    assert names == sorted(names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_matches_the_catalog(path) -> None:
    inferred = papermill.inspect_notebook(str(path))
    declared = {p.name: p for p in catalog.params_of(path.stem)}
    assert set(inferred) == set(declared), f"cell {sorted(inferred)} vs catalog {sorted(declared)}"
    for name, p in declared.items():
        value = ast.literal_eval(inferred[name]["default"])  # the notebook's own literal
        assert value == p.default, f"{path.stem}.{name}: cell has {value!r}, catalog {p.default!r}"
        assert inferred[name]["help"], f"{path.stem}.{name} has no comment in the parameters cell"
    for common in ("profile", "seed", "device"):
        assert common in declared, f"{path.stem} does not declare {common}"
    assert params.DEVICES == ("auto", "cpu", "gpu", "cuda")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_validate_follows_the_parameters_cell(path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.stem}: {len(tagged)} cells tagged 'parameters'"
    following = nb.cells[tagged[0] + 1].source
    assert f'labkit.notebook.start("{path.stem}", globals())' in following, following


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_small_and_clean(path) -> None:
    text = path.read_text()
    assert len(text) < 1_000_000, f"{path.name} is {len(text):,} bytes"
    for leak in ("/work/", "/root/", "/home/", "Traceback (most recent call last)"):
        assert leak not in text, f"{path.name} contains {leak!r}"
    nb = json.loads(text)
    unexecuted = [
        i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and c["execution_count"] is None
    ]
    assert unexecuted == [], f"{path.name}: code cells without committed outputs: {unexecuted}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_course_layer(path) -> None:
    """Objectives, previous/next links, two exercises with hidden reference solutions, a summary."""
    cells = nbformat.read(path, as_version=4).cells
    intro = cells[0].source
    bullets = intro.split("**Learning objectives**")[-1].split("**Prerequisites")[0].count("\n- ")
    assert "**Learning objectives**" in intro and 3 <= bullets <= 5, f"{path.stem}: {bullets} objectives"
    assert "**Prerequisites" in intro, f"{path.stem}: no prerequisites"
    assert path.stem.startswith("00") or "**Previous:**" in intro, (
        f"{path.stem}: no link to the previous notebook"
    )
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "## What you learned" in markdown and "**Next:**" in markdown, (
        f"{path.stem}: no summary or next link"
    )
    solutions = [c for c in cells if "solution" in c.metadata.get("tags", [])]
    hidden = [c.metadata.get("jupyter", {}).get("source_hidden") for c in solutions]
    assert len(solutions) >= 2 and all(hidden), f"{path.stem}: {len(solutions)} solutions, hidden {hidden}"
    for number in (1, 2):
        assert f"**E{number}.**" in markdown, f"{path.stem}: exercise E{number} missing"
    previous = intro.split("**Previous:**")[-1].split("\n\n")[0] if "**Previous:**" in intro else "[x]("
    following = markdown.split("**Next:**")[-1].split("\n\n")[0]
    assert "](" in previous and "](" in following, f"{path.stem}: Previous/Next are not links"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_grade_the_learner(path) -> None:
    """Graded in three states by labkit.exercise, references only under reveal, one exercise writes code."""
    cells = nbformat.read(path, as_version=4).cells
    code = [c.source for c in cells if c.cell_type == "code"]
    graded = [s for s in code if "labkit.exercise.grade(" in s]
    assert len(graded) >= 2, f"{path.stem}: {len(graded)} exercises graded by labkit.exercise.grade"
    assert any("labkit.exercise.FUNCTION" in s for s in graded), (
        f"{path.stem}: no exercise asks for code (kind=labkit.exercise.FUNCTION)"
    )
    for cell in cells:
        if "solution" in cell.metadata.get("tags", []):
            assert "if P.reveal_solutions:" in cell.source, (
                f"{path.stem}: a reference not gated: {cell.source}"
            )
    assert not any("labkit.check.check" in s and "answer_" in s for s in code), (
        f"{path.stem}: an exercise still checked with labkit.check (it stops Run All on a wrong answer)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_learner_text_speaks_to_the_learner(path) -> None:
    """No text about work items: no "issue", no "goal" in markdown or in a self-check's claim."""
    cells = nbformat.read(path, as_version=4).cells
    texts = [c.source for c in cells if c.cell_type == "markdown"]
    texts += [
        line for c in cells if c.cell_type == "code" for line in c.source.splitlines() if "check" in line
    ]
    found = [t for t in texts if re.search(r"\b(issue|goals?)\b", t, re.IGNORECASE)]
    assert not found, f"{path.stem}: {found}"


def test_parameters_cells_are_generated_from_the_catalog() -> None:
    stale = generated.stale_cells(paths.notebooks_dir())
    assert stale == [], (
        f"the parameters cells of {stale} differ from labkit/workbook/catalog.py; "
        "run `.venv/bin/labkit params --write-cells`."
    )


def test_a_changed_parameters_cell_is_caught_and_rewritten(tmp_path) -> None:
    for name in catalog.SERIES:
        shutil.copy(paths.notebooks_dir() / f"{name}.ipynb", tmp_path)
    target = tmp_path / "02_pruning.ipynb"
    target.write_text(target.read_text().replace("steps between mask updates", "steps between updates"))
    assert generated.stale_cells(tmp_path) == ["02_pruning"], generated.stale_cells(tmp_path)
    assert generated.write_cells(tmp_path) == [target]
    assert generated.stale_cells(tmp_path) == [], "the rewritten cell still differs from the catalog"


def test_instructor_guide_has_the_current_parameters() -> None:
    doc = (paths.repo_root() / "docs" / "instructors.md").read_text(encoding="utf-8")
    section = doc.split(generated.DOC_START)[1].split(generated.DOC_END)[0].strip()
    assert section == generated.markdown().strip(), (
        "docs/instructors.md's parameter tables differ from labkit/workbook/catalog.py; "
        "run `.venv/bin/labkit params --doc docs/instructors.md`."
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_printed_listings_are_output_checked(path) -> None:
    """A printed `inspect.getsource` listing is compared by nbval, so it cannot go stale."""
    cells = nbformat.read(path, as_version=4).cells
    unchecked = [
        c.source.splitlines()[0]
        for c in cells
        if c.cell_type == "code"
        and "getsource(" in c.source
        and not c.source.startswith("# NBVAL_CHECK_OUTPUT")
    ]
    assert not unchecked, f"{path.stem}: listings without # NBVAL_CHECK_OUTPUT: {unchecked}"
