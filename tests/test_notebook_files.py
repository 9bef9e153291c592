"""The committed notebooks: declared in the catalog, parameters in step, outputs clean."""

from __future__ import annotations

import ast
import json
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
