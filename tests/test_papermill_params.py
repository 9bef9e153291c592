"""papermill with non-default parameters (effect read back from the ledger) and a bad parameter."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from labkit import ledger
from labkit.core import paths

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

NOTEBOOK = paths.notebooks_dir() / "01_baseline_models.ipynb"


def test_non_default_parameters_reach_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_RUN_ID", "papermill-params-test")
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        parameters={"frameworks": "torch", "seed": 3, "epochs_mlp": 25},
    )
    records = [r for r in ledger.read() if r["run_id"] == "papermill-params-test"]
    assert records, "the run recorded nothing"
    assert {r["framework"] for r in records} == {"torch"}, {r["framework"] for r in records}
    assert {r["params"]["seed"] for r in records} == {3}, {r["params"]["seed"] for r in records}
    assert ledger.latest_value("baseline.torch.mlp.epochs_trained") == 25
    assert ledger.latest_value("baseline.torch.cnn.epochs_trained") == 20


def test_bad_parameter_fails_right_after_the_parameters_cell(tmp_path: Path) -> None:
    out = tmp_path / "bad.ipynb"
    with pytest.raises(PapermillExecutionError) as caught:
        papermill.execute_notebook(
            str(NOTEBOOK),
            str(out),
            cwd=str(NOTEBOOK.parent),
            progress_bar=False,
            parameters={"epochs_mlp": -3},
        )
    error = caught.value
    assert error.ename == "ValueError", error.ename
    assert "parameter 'epochs_mlp' of 01_baseline_models got -3, out of range" in error.evalue, error.evalue
    executed = nbformat.read(out, as_version=4)
    ran = [i for i, c in enumerate(executed.cells) if c.cell_type == "code" and c.get("execution_count")]
    start = next(i for i, c in enumerate(executed.cells) if "labkit.notebook.start" in c.source)
    assert max(ran) == start, f"cells {ran} ran; nothing after the start cell ({start}) may run"
