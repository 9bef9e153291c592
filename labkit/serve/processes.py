"""Start, wait for, check and always stop a server process (the serving notebooks' lifecycle helper).

A server runs in its own process group on 127.0.0.1, its output goes to a log file, readiness is an HTTP
200 from a URL within a timeout, and leaving the `with` block stops the whole group (SIGTERM, then SIGKILL),
even when a cell fails; a server still running when Python exits is stopped then. Every failure message
ends with the server's last log lines.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int) -> None:
    """Raise a clear error when something already listens on 127.0.0.1:port.

    SO_REUSEADDR, as servers set it: connections of a stopped server left in TIME_WAIT do not count.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise RuntimeError(
                f"port {port} on {HOST} is already in use; stop what holds it or pick another "
                "(labkit.serve.processes.free_port())."
            ) from None


class ServerProcess:
    """A server command run as a context manager: started, waited for, checked, and always stopped."""

    def __init__(
        self,
        command: Sequence[str],
        ready_url: str,
        name: str = "server",
        *,
        timeout_s: float = 60.0,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.command = [str(part) for part in command]
        self.ready_url = ready_url
        self.name = name
        self.timeout_s = timeout_s
        self.log_path = log_path or Path(tempfile.mkstemp(prefix=f"labkit-{name}-", suffix=".log")[1])
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote (stdout and stderr together)."""
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(empty log)"

    def start(self) -> ServerProcess:
        """Start the process and wait until `ready_url` answers 200, or raise with the log tail."""
        started = time.perf_counter()
        atexit.register(self.stop)  # a kernel that exits before the stop cell leaves no server behind
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        while time.perf_counter() - started < self.timeout_s:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(
                    f"{self.name} exited with code {code} while starting; its log ends:\n{self.log_tail()}"
                )
            if self._ready():
                self.startup_s = time.perf_counter() - started
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer {self.ready_url} within {self.timeout_s:.0f} s; "
            f"its log ends:\n{self.log_tail()}"
        )

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def check(self) -> None:
        """Raise, with the log tail, when the server has died since it started."""
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise RuntimeError(
                f"{self.name} is not running (exit code {code}); its log ends:\n{self.log_tail()}"
            )

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM to the whole process group, SIGKILL after `grace_s`; returns the exit code."""
        atexit.unregister(self.stop)
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers the server started
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
