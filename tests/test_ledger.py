"""labkit.ledger: record shape, the latest-value reader, and 8 concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from labkit import ledger
from labkit.core import paths


def test_record_has_the_documented_keys(isolated_results: Path) -> None:
    ledger.set_context(notebook="01_baseline_models", profile="quick", device="cpu", params={"seed": 0})
    entry = ledger.record("baseline.keras.mlp.accuracy", 0.97, "fraction", framework="keras")
    assert tuple(sorted(entry)) == tuple(sorted(ledger.KEYS)), sorted(entry)
    line = paths.ledger_path().read_text().splitlines()
    assert len(line) == 1 and json.loads(line[0]) == entry, line
    assert paths.ledger_path().parent == isolated_results, paths.ledger_path()
    assert entry["notebook"] == "01_baseline_models" and entry["params"] == {"seed": 0}, entry


def test_latest_returns_the_newest_value() -> None:
    ledger.record("baseline.torch.mlp.accuracy", 0.90, "fraction", framework="torch", run_id="a")
    ledger.record("baseline.torch.mlp.accuracy", 0.96, "fraction", framework="torch", run_id="b")
    ledger.record("baseline.keras.mlp.accuracy", 0.50, "fraction", framework="keras", run_id="b")
    assert ledger.latest_value("baseline.torch.mlp.accuracy") == 0.96
    assert ledger.latest("baseline.torch.mlp.accuracy", run_id="a")["value"] == 0.90
    assert ledger.latest("baseline.torch.cnn.accuracy") is None
    with pytest.raises(KeyError, match="not in the ledger"):
        ledger.latest_value("baseline.torch.cnn.accuracy")


@pytest.mark.parametrize(
    ("metric", "value", "message"),
    [
        ("Baseline Accuracy", 1.0, "dot-separated lower-case"),
        ("accuracy", 1.0, "dot-separated lower-case"),
        ("baseline.keras.acc", float("nan"), "finite number"),
        ("baseline.keras.acc", "high", "a number is required"),
    ],
)
def test_bad_records_are_refused(metric: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ledger.record(metric, value, "x")
    assert not paths.ledger_path().exists(), "a refused record must not be written"


def test_unreadable_line_is_skipped_with_its_number() -> None:
    ledger.record("a.b.c", 1, "x")
    with open(paths.ledger_path(), "a") as handle:
        handle.write('{"torn": \n')
    ledger.record("a.b.c", 2, "x")
    with pytest.warns(UserWarning, match="line 2 is not valid JSON"):
        values = [r["value"] for r in ledger.read()]
    assert values == [1, 2], values


def _writer(args: tuple[str, int, int]) -> None:
    results, writer, count = args
    os.environ["LABKIT_RESULTS_DIR"] = results
    padding = "x" * 5000  # long lines make a torn write likely without the lock
    for i in range(count):
        ledger.record("test.concurrency.value", i, "count", writer=writer, padding=padding)


def test_eight_concurrent_writers_lose_and_tear_nothing(isolated_results: Path) -> None:
    writers, per_writer = 8, 100
    context = multiprocessing.get_context("spawn")
    with context.Pool(writers) as pool:
        pool.map(_writer, [(str(isolated_results), w, per_writer) for w in range(writers)])
    lines = paths.ledger_path().read_text().splitlines()
    assert len(lines) == writers * per_writer, f"{len(lines)} lines, expected {writers * per_writer}"
    parsed = [json.loads(line) for line in lines]  # a torn line raises here
    seen = {(r["writer"], r["value"]) for r in parsed}
    assert len(seen) == writers * per_writer, f"{len(seen)} distinct records of {writers * per_writer}"


def test_side_by_side_pairs_frameworks_and_marks_what_has_not_run() -> None:
    ledger.record("pruning.keras.gzip_ratio", 3.0, "x", framework="keras")
    ledger.record("pruning.torch.gzip_ratio", 3.4, "x", framework="torch")
    ledger.record("pruning.torch.gzip_ratio", 3.5, "x", framework="torch")
    ledger.record("distillation.torch.student_minus_scratch_pts", -0.5, "points", framework="torch")
    rows = ledger.side_by_side(("pruning.{fw}.gzip_ratio", "distillation.{fw}.student_minus_scratch_pts"))
    assert [r["metric"] for r in rows] == ["pruning.*.gzip_ratio", "distillation.*.student_minus_scratch_pts"]
    assert rows[0]["keras"]["value"] == 3.0 and rows[0]["torch"]["value"] == 3.5, rows[0]
    assert rows[1]["keras"] is None and rows[1]["unit"] == "points", rows[1]
    text = ledger.side_by_side_table(rows).splitlines()
    assert text[1].split() == ["pruning.*.gzip_ratio", "3", "3.5", "x"], text
    assert text[2].split() == ["distillation.*.student_minus_scratch_pts", "not", "run", "-0.5", "points"], (
        text
    )
