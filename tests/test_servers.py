"""labkit.serve.processes: readiness timeout with the log tail, and the process stopped either way."""

from __future__ import annotations

import sys

import pytest

from labkit.serve import processes

pytestmark = pytest.mark.server


def test_a_server_that_never_answers_times_out_with_its_log_and_is_stopped() -> None:
    command = [sys.executable, "-u", "-c", "import time; print('starting up'); time.sleep(60)"]
    url = f"http://{processes.HOST}:{processes.free_port()}/"
    process = processes.ServerProcess(command, url, name="sleeper", timeout_s=1.5)
    with pytest.raises(
        RuntimeError, match=r"sleeper did not answer .* within 2 s; its log ends:\nstarting up"
    ):
        process.start()
    assert process.process.poll() is not None, "the process outlived its failed start"


def test_a_server_that_exits_while_starting_reports_its_exit_code() -> None:
    command = [sys.executable, "-c", "import sys; print('bad flag'); sys.exit(3)"]
    process = processes.ServerProcess(
        command, f"http://{processes.HOST}:{processes.free_port()}/", name="quitter"
    )
    with pytest.raises(
        RuntimeError, match=r"quitter exited with code 3 while starting; its log ends:\nbad flag"
    ):
        process.start()
