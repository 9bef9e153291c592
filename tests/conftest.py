"""Every test writes into its own results directory, never the checkout's results/."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import ledger


@pytest.fixture(autouse=True)
def isolated_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    results = tmp_path / "results"
    monkeypatch.setenv("LABKIT_RESULTS_DIR", str(results))
    monkeypatch.setattr(ledger, "_context", {})
    return results
