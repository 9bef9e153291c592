"""Every test writes into its own results directory, never the checkout's results/; tiny notebooks for
the runner's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit import ledger


@pytest.fixture(autouse=True)
def isolated_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    results = tmp_path / "results"
    monkeypatch.setenv("LABKIT_RESULTS_DIR", str(results))
    monkeypatch.setattr(ledger, "_context", {})
    return results


def write_notebook(folder: Path, name: str, parameters: str, *sources: str) -> Path:
    """A notebook with a tagged parameters cell and one code cell per source, as papermill runs it."""
    cell = new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[cell, *(new_code_cell(s) for s in sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebook_writer() -> Callable[..., Path]:
    return write_notebook
