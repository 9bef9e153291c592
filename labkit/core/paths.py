"""Where the workbook's files live: the repository, its notebooks and data, and the results directory.

`LABKIT_RESULTS_DIR` moves the whole results directory (ledger, runs, artifacts, report), e.g. for tests.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def repo_root() -> Path:
    """The checkout that holds labkit/, notebooks/ and datasets/."""
    return REPO_ROOT


def notebooks_dir() -> Path:
    return REPO_ROOT / "notebooks"


def datasets_dir() -> Path:
    return REPO_ROOT / "datasets"


def results_dir() -> Path:
    """The results directory, `results/` in the checkout unless LABKIT_RESULTS_DIR says otherwise."""
    override = os.environ.get("LABKIT_RESULTS_DIR")
    return Path(override).expanduser().resolve() if override else REPO_ROOT / "results"


def ledger_path() -> Path:
    return results_dir() / "ledger.jsonl"


def checks_path() -> Path:
    """The self-checks passed in interactive notebook runs (the runner counts PASS lines instead)."""
    return results_dir() / "checks.jsonl"


def runs_dir() -> Path:
    return results_dir() / "runs"


def artifacts_dir() -> Path:
    """Models and files one notebook saves for later ones (rebuilt when missing)."""
    return results_dir() / "artifacts"


def cache_dir() -> Path:
    """Optional downloads (MNIST): LABKIT_CACHE_DIR, else ~/.cache/labkit."""
    override = os.environ.get("LABKIT_CACHE_DIR")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "labkit"
