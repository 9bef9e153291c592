"""The committed notebooks: declared in the catalog, parameters in step, outputs clean."""

from __future__ import annotations

import ast
import json

import nbformat
import papermill
import pytest

from labkit import catalog, params, runner

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
