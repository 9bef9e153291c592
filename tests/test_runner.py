"""labkit run: real kernels on tiny notebooks; status, timeout, summary.json, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nbformat
import psutil
import pytest

from labkit.core import envinfo, paths
from labkit.workbook import catalog, cli, runner
from labkit.workbook.params import Param

pytestmark = pytest.mark.slow


PARAMETERS = 'profile = "quick"\nseed = 0\ndevice = "auto"\nwork = 1'


@pytest.fixture
def series(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notebook_writer: Callable[..., Path]) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    names = ("90_ok", "91_fails", "92_sleeps")
    notebook_writer(folder, names[0], PARAMETERS, "print(f'PASS: one (work={work})')", "print('PASS: two')")
    notebook_writer(folder, names[1], PARAMETERS, "print('PASS: before')", "raise ValueError('lesson broke')")
    pidfile = tmp_path / "kernel.pid"
    notebook_writer(
        folder,
        names[2],
        PARAMETERS,
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))",
        "time.sleep(120)",
    )
    declared = catalog.COMMON + (Param("work", int, 1, minimum=1, maximum=10, help="how much"),)
    for name in names:
        monkeypatch.setitem(catalog.SERIES, name, catalog.NotebookEntry(name, name, declared))
    monkeypatch.setattr(paths, "notebooks_dir", lambda: folder)
    return folder


def test_series_runs_on_after_a_failure_and_writes_summary(series: Path) -> None:
    run_dir, outcomes = runner.run(["90", "91"], overrides={"work": 3}, timeout_s=120, progress=False)
    status = {o.notebook: (o.status, o.checks_passed) for o in outcomes}
    assert status == {"90_ok": ("ok", 2), "91_fails": ("failed", 1)}, status
    assert "ValueError: lesson broke" in outcomes[1].error, outcomes[1].error
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [sorted(s) for s in summary] == [
        sorted(["notebook", "status", "seconds", "peak_memory_mb", "checks_passed", "error"])
    ] * 2, summary
    assert all(s["peak_memory_mb"] > 20 and s["seconds"] > 0 for s in summary), summary
    executed = nbformat.read(run_dir / "90_ok.ipynb", as_version=4)
    assert "PASS: one (work=3)" in json.dumps(executed.cells[-2].outputs), "the -p value did not arrive"
    assert json.loads((run_dir / "run.json").read_text())["environment"]["packages"]["labkit"]


def test_timeout_kills_the_kernel(series: Path) -> None:
    _, outcomes = runner.run(["92"], timeout_s=25, progress=False)
    assert outcomes[0].status == "timeout", outcomes[0]
    assert outcomes[0].seconds < 50, f"timeout took {outcomes[0].seconds} s"
    kernel_pid = int((series.parent / "kernel.pid").read_text())
    alive = psutil.pid_exists(kernel_pid) and psutil.Process(kernel_pid).status() != psutil.STATUS_ZOMBIE
    assert not alive, f"kernel {kernel_pid} still running after the timeout"


def test_cli_exit_code_and_table(series: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", "90", "91", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1, f"a failed notebook must make the run exit non-zero, got {code}"
    assert "91_fails" in out and "failed" in out and "summary.json" in out, out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "90", "-p", "work", "99"],
            r"parameter 'work' of 90_ok got 99, out of range; allowed: an int in \[1, 10\]",
        ),
        (
            ["run", "90", "-p", "work", "lots"],
            r"parameter 'work' of 90_ok got 'lots' \(str\); allowed: an int",
        ),
        (
            ["run", "90", "-p", "epochs", "3"],
            r"unknown parameter 'epochs' \(value 3\): none of 90_ok declares it",
        ),
        (["run", "95"], r"notebook '95' matches 0 notebooks"),
    ],
)
def test_bad_input_fails_before_any_kernel(series: Path, capsys, argv: list[str], message: str) -> None:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code} for {argv}"
    assert pytest.importorskip("re").search(message, err), err
    assert not paths.runs_dir().exists(), "nothing may run when the parameters are bad"


def test_gpu_request_without_gpu_fails_at_once(series: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(envinfo, "gpu_available", lambda: False)
    code = cli.main(["run", "90", "--device", "gpu"])
    err = capsys.readouterr().err
    assert code == 2 and "got 'gpu' but no GPU is visible" in err, (code, err)
    assert not paths.runs_dir().exists()


def test_params_command_lists_declared_types(capsys) -> None:
    assert cli.main(["params", "01"]) == 0
    out = capsys.readouterr().out
    assert "epochs_mlp" in out and "an int in [1, 500]" in out and "one of 'auto', 'cpu', 'gpu'" in out, out


def test_report_lists_metrics_and_run(series: Path) -> None:
    from labkit import ledger
    from labkit.workbook import report

    run_dir, _ = runner.run(["90"], timeout_s=120, progress=False)
    ledger.record("baseline.keras.mlp.accuracy", 0.97, "fraction", framework="keras", run_id=run_dir.name)
    text = report.build().read_text()
    assert f"Showing run {run_dir.name}," in text and "| 90_ok | ok |" in text, text
    assert "| baseline.keras.mlp.accuracy | 0.97 | fraction | keras |" in text, text
    assert (paths.results_dir() / "report_files" / "accuracy.png").stat().st_size > 1000
