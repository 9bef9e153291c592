"""labkit.workbook.dashboard and `labkit report`: trade-off rows from metric names, history, check status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import labkit.check
from labkit import ledger
from labkit.core import paths
from labkit.workbook import catalog, cli, dashboard, report


def _record(metric: str, value: float, run_id: str, framework: str = "keras") -> None:
    ledger.record(metric, value, "x", framework=framework, run_id=run_id, notebook="nb")


def test_trade_offs_group_a_technique_and_framework_by_metric_name() -> None:
    for metric, value in {
        "quantization.keras.mlp.int8.accuracy_drop_pts": 0.5,
        "quantization.keras.mlp.int8.size_ratio": 3.9,
        "quantization.keras.cnn.int8.speedup": 0.4,
        "pruning.torch.accuracy_drop_pts": -1.0,
        "pruning.torch.gzip_ratio": 3.5,
        "gpu_config.keras.mlp.bf16_accuracy_drop_pts": 0.0,
        "gpu_config.keras.mlp.bf16_speedup": 0.7,
        "inference.keras.batch_vs_single_calls_speedup": 20.0,
    }.items():
        _record(metric, value, "r1", metric.split(".")[1])
    rows = {(r["technique"], r["framework"]): r for r in dashboard.trade_offs(ledger.read())}
    assert sorted(rows) == [
        ("gpu_config.mlp.bf16", "keras"),
        ("pruning", "torch"),
        ("quantization.mlp.int8", "keras"),
    ], rows
    int8 = rows[("quantization.mlp.int8", "keras")]
    assert (int8["accuracy_drop_pts"], int8["size"], int8["size_kind"], int8.get("speedup")) == (
        0.5,
        3.9,
        "file",
        None,
    ), "the CNN's speedup must not be drawn as the MLP's point"
    assert (rows[("pruning", "torch")]["size"], rows[("pruning", "torch")]["size_kind"]) == (3.5, "gzip")
    assert rows[("gpu_config.mlp.bf16", "keras")]["size"] is None, rows[("gpu_config.mlp.bf16", "keras")]
    only_torch = dashboard.trade_offs(ledger.read(), framework="torch")
    assert [r["technique"] for r in only_torch] == ["pruning"], only_torch


def test_runtime_metrics_take_the_framework_from_the_record() -> None:
    _record("runtimes.cnn.openvino.int8.accuracy_drop_pts", 0.3, "r1", "torch")
    _record("runtimes.cnn.openvino.int8.speedup", 1.4, "r1", "torch")
    _record("runtimes.cnn.litert.int8.accuracy_drop_pts", 0.0, "r1", "keras")
    _record("runtimes.best_int8_speedup", 2.5, "r1", "none")
    rows = {(r["technique"], r["framework"]): r for r in dashboard.trade_offs(ledger.read())}
    assert sorted(rows) == [("runtimes.cnn.litert.int8", "keras"), ("runtimes.cnn.openvino.int8", "torch")], (
        rows
    )
    assert rows[("runtimes.cnn.openvino.int8", "torch")]["speedup"] == 1.4, rows


def test_trade_offs_use_the_newest_record_and_one_run_when_asked() -> None:
    _record("quantization.keras.int8.accuracy_drop_pts", 2.0, "old")
    _record("quantization.keras.int8.accuracy_drop_pts", 0.5, "new")
    newest = dashboard.trade_offs(ledger.read())
    old = dashboard.trade_offs(dashboard.select(ledger.read(), "old"))
    assert newest[0]["accuracy_drop_pts"] == 0.5 and old[0]["accuracy_drop_pts"] == 2.0, (newest, old)
    assert dashboard.run_ids(ledger.read()) == ["old", "new"]


def test_changes_flag_only_moves_beyond_the_noise_of_earlier_runs() -> None:
    runs = (("r1", 10.0, 1.0, 0.0), ("r2", 14.0, 1.0, 0.0), ("r3", 9.0, 1.0, 0.0), ("r4", 12.0, 0.5, 0.0))
    for run_id, a, b, c in runs:
        _record("serving.keras.p99_ms", a, run_id)
        _record("quantization.keras.mlp.int8.size_ratio", b, run_id)
        _record("monitor.drift.false_alarm_clean", c, run_id)
    _record("baseline.keras.mlp.accuracy", 0.9, "r4")
    moved = dashboard.changes(ledger.read(), "r4")
    summary = [(m["metric"], m["runs"], m["previous"], m["latest"], m["beyond"]) for m in moved]
    assert summary == [
        ("quantization.keras.mlp.int8.size_ratio", 4, 1.0, 0.5, True),
        ("serving.keras.p99_ms", 4, 9.0, 12.0, False),
        ("monitor.drift.false_alarm_clean", 4, 0.0, 0.0, False),
    ], summary
    p99 = next(m for m in moved if m["metric"] == "serving.keras.p99_ms")
    assert dashboard.change_status(p99).startswith("within the noise of 3 earlier runs"), p99
    assert dashboard.default_history_metric(ledger.read(), "r4") == "quantization.keras.mlp.int8.size_ratio"
    history = [r["value"] for r in dashboard.history(ledger.read(), "serving.keras.p99_ms")]
    assert history == [10.0, 14.0, 9.0, 12.0], history


def _summary(run_id: str, rows: list[tuple[str, str, int]]) -> None:
    folder = paths.runs_dir() / run_id
    folder.mkdir(parents=True)
    content = [
        {"notebook": n, "status": s, "checks_passed": c, "seconds": 1.0, "peak_memory_mb": 1.0}
        for n, s, c in rows
    ]
    (folder / "summary.json").write_text(json.dumps(content))


def test_check_status_shows_one_run_only_and_marks_the_rest_not_run() -> None:
    _summary("run-a", [("01_baseline_models", "failed", 3), ("02_pruning", "ok", 22)])
    _summary("run-b", [("01_baseline_models", "ok", 13)])
    status = {s["notebook"]: (s["status"], s["checks_passed"]) for s in dashboard.check_status("run-b")}
    assert status["01_baseline_models"] == ("ok", 13), status
    assert status["02_pruning"] == ("not run", 0), "a notebook of another run must not be mixed in"
    assert list(status) == list(catalog.SERIES), list(status)


def test_notebooks_run_in_jupyterlab_are_counted_and_labelled_interactive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A learner's kernel has no LABKIT_RUN_ID: its passed checks go to the check log, and the dashboard
    counts each distinct claim of the newest session, labelled "interactive"."""
    monkeypatch.delenv("LABKIT_RUN_ID", raising=False)
    _summary("run-b", [("01_baseline_models", "ok", 13)])
    for session, claims in (("interactive-20261201-100000-aaaa", ["old"]), (None, ["a", "b", "a"])):
        if session:
            monkeypatch.setattr(ledger, "_session_run_id", session)
        else:
            monkeypatch.setattr(ledger, "_session_run_id", "interactive-20261202-100000-bbbb")
        ledger.set_context(notebook="02_pruning")
        for claim in claims:
            labkit.check.check(True, claim)
    ledger.set_context(notebook="03_quantization")
    ledger.record("quantization.keras.mlp.int8.size_ratio", 3.9, "x")  # a metric, no check yet
    rows = dashboard.check_status("run-b")
    status = {s["notebook"]: (s["status"], s["checks_passed"], s["run_id"]) for s in rows}
    assert status["01_baseline_models"] == ("ok", 13, "run-b"), status
    assert status["02_pruning"] == ("interactive", 2, "interactive-20261202-100000-bbbb"), status
    assert status["03_quantization"][:2] == ("interactive", 0), status
    assert status["04_distillation"] == ("not run", 0, "run-b"), status
    monkeypatch.setenv("LABKIT_RUN_ID", "run-c")
    labkit.check.check(True, "a runner's check is counted from its output, not logged")
    claims = [c["claim"] for c in ledger.read(paths.checks_path())]
    assert claims == ["old", "a", "b", "a"], claims


def test_choose_run_prefers_the_current_then_the_newest_complete_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABKIT_RUN_ID", raising=False)
    for name in dashboard.SERIES_MEASURED:
        ledger.record("x.none.value", 1.0, "count", run_id="complete", notebook=name)
    ledger.record("x.none.value", 2.0, "count", run_id="partial", notebook="02_pruning")
    records = ledger.read()
    run_id, why = dashboard.choose_run(records)
    assert run_id == "complete" and "newest run in which all" in why, why
    monkeypatch.setenv("LABKIT_RUN_ID", "partial")
    assert dashboard.choose_run(records)[0] == "partial"
    assert dashboard.choose_run(records, "complete")[1].startswith("run complete (chosen by parameter")
    with pytest.raises(ValueError, match="run 'nope' has no records .* pick one of complete, partial"):
        dashboard.choose_run(records, "nope")


def test_report_has_the_dashboard_sections_and_figures() -> None:
    _summary("run-b", [("02_pruning", "ok", 9)])
    for run_id, drop in (("run-a", 0.2), ("run-b", 0.6)):
        _record("case_study.keras.int8.accuracy_drop_pts", drop, run_id)
        _record("case_study.keras.int8.size_ratio", 3.8, run_id)
        _record("case_study.keras.accuracy", 0.95, run_id)
    text = report.build().read_text()
    assert "Showing run run-b, the newest run; incomplete" in text, text
    for heading in (
        "## Self-check status of this run",
        "## Trade-offs",
        "## Keras vs PyTorch",
        "## History",
        "## Metrics",
    ):
        assert heading in text, f"{heading!r} missing from the report:\n{text}"
    assert "| case_study.int8 | keras | 0.6 | 3.8 | file |  |" in text, text
    assert "| 02_pruning | ok | 1.0 | 1 | 9 |" in text, text
    figures = paths.results_dir() / "report_files"
    for name in ("trade_offs.png", "accuracy.png", "history_case_study_keras_int8_accuracy_drop_pts.png"):
        assert (figures / name).stat().st_size > 1000, name


def test_report_for_an_unknown_run_names_the_runs_it_has(capsys: pytest.CaptureFixture[str]) -> None:
    _record("case_study.keras.accuracy", 0.95, "run-a")
    with pytest.raises(ValueError, match="run 'nope' has no records .* pick one of run-a"):
        report.build("nope")
    assert cli.main(["report", "--run-id", "nope"]) == 2
    assert "run 'nope' has no records" in capsys.readouterr().err


def test_report_of_an_empty_ledger_still_writes(isolated_results: Path) -> None:
    text = Path(report.build()).read_text()
    assert "## Metrics of this run (0, from ledger.jsonl)" in text and "history needs two" in text, text
