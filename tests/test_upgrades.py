"""labkit.workbook.upgrades: what `make upgrade-check` reports, on a made-up lock, run and traceback."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from labkit.workbook import upgrades

LOCK = """\
aiohttp==3.9.0
    # via labkit (pyproject.toml)
numpy==1.26.4
torch==2.13.0
Tensorflow_Model_Optimization==0.8.1
"""

TRACEBACK = (
    "\x1b[31mAttributeError\x1b[39m Traceback (most recent call last)\n"
    "File /venv/lib/python3.11/site-packages/numpy/core/fromnumeric.py:59, in _wrapfunc\n"
    "File /venv/lib/python3.11/site-packages/torch/nn/modules/module.py:1, in _call_impl\n"
)


def test_lock_pins_are_read_with_normalized_names() -> None:
    pins = upgrades.locked_versions_from_text(LOCK)
    assert pins == {
        "aiohttp": "3.9.0",
        "numpy": "1.26.4",
        "torch": "2.13.0",
        "tensorflow-model-optimization": "0.8.1",
    }, pins


def test_only_real_upgrades_count_and_a_local_build_label_is_not_one() -> None:
    locked = {"numpy": "1.26.4", "torch": "2.13.0", "aiohttp": "3.9.0"}
    installed = {"numpy": "2.1.0", "torch": "2.13.0+cpu", "aiohttp": "3.9.0", "extra": "1.0"}
    assert upgrades.upgraded(locked, installed) == {"numpy": ("1.26.4", "2.1.0")}


def test_blame_names_the_upgraded_packages_a_traceback_runs_through() -> None:
    changed = {"numpy": ("1.26.4", "2.1.0"), "aiohttp": ("3.9.0", "3.10.0")}
    owners = {"numpy": ["numpy"], "torch": ["torch"], "aiohttp": ["aiohttp"]}
    assert upgrades.blame(TRACEBACK, changed, owners) == ["numpy"]
    assert upgrades.blame("No module named 'aiohttp.web'", changed, owners) == ["aiohttp"]
    assert upgrades.blame("ValueError: a bug of our own", changed, owners) == []


def test_report_names_each_broken_notebook_and_its_suspect(tmp_path: Path, monkeypatch) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(LOCK)
    run = tmp_path / "results" / "runs" / "20260101-000000-abcd"
    run.mkdir(parents=True)
    summary = [
        {"notebook": "01_baseline_models", "status": "ok", "error": None},
        {"notebook": "05_pytorch_compression", "status": "failed", "error": "cell 7: AttributeError: gone"},
    ]
    (run / "summary.json").write_text(json.dumps(summary))
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("model(x)")
    cell.outputs = [
        nbformat.v4.new_output(
            "error", ename="AttributeError", evalue="gone", traceback=TRACEBACK.splitlines()
        )
    ]
    nb.cells = [cell]
    nbformat.write(nb, run / "05_pytorch_compression.ipynb")
    monkeypatch.setattr(upgrades, "installed_versions", lambda: {"numpy": "2.1.0", "torch": "2.13.0+cpu"})
    text, broken = upgrades.report(lock, tmp_path / "results")
    assert broken == 1, text
    assert "numpy 1.26.4 -> 2.1.0" in text and "torch" not in text.split("BROKE")[0], text
    assert (
        "BROKE 05_pytorch_compression: cell 7: AttributeError: gone\n  on: numpy 1.26.4 -> 2.1.0" in text
    ), text
    assert "1 of 2 notebooks passed" in text, text
