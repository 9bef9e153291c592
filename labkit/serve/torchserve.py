"""TorchServe from a notebook (10): archive a model, write `config.properties`, start, wait, scale, stop.

TorchServe is a Java frontend (HTTP on three loopback ports: inference, management, metrics) with one
Python worker process per model worker. `TorchServe` runs `torchserve --start --foreground` through
`labkit.serve.processes.ServerProcess` with its own temporary directory, so its pid file, worker sockets,
logs and unpacked models stay apart from any other instance, and always ends with `torchserve --stop` and
then the process group's stop. Token authorization is off: every address is 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from labkit.core import files
from labkit.serve import processes

APIS = ("inference", "management", "metrics")  # REST
GRPC_APIS = ("grpc_inference", "grpc_management")  # always started by TorchServe; given ports of their own


def handler_file() -> Path:
    """The batch-aware handler (`labkit/serve/torchserve_handler.py`), packed into archives as it is."""
    return Path(__file__).with_name("torchserve_handler.py")


def tool(name: str) -> str:
    """The path of a TorchServe command (`torchserve`, `torch-model-archiver`) of this Python, or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} is not installed; `make venv` installs it (or: pip install 'labkit[serve]')."
        )
    return found


def java_problem() -> str | None:
    """Why TorchServe's Java frontend cannot start here, or None when a `java` is found."""
    home = os.environ.get("JAVA_HOME")
    if (home and Path(home, "bin", "java").exists()) or shutil.which("java"):
        return None
    return (
        "TorchServe needs a Java 17 runtime and `java` is not on PATH: install one "
        "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless; `make venv` does this) or set JAVA_HOME."
    )


def archive(
    name: str,
    serialized_file: Path,
    store: Path,
    *,
    handler: Path | None = None,
    version: str = "1.0",
    extra_files: Sequence[Path] = (),
) -> Path:
    """Build `store/name.mar` with `torch-model-archiver` (replacing an older one); returns its path."""
    store.mkdir(parents=True, exist_ok=True)
    command = [
        tool("torch-model-archiver"),
        f"--model-name={name}",
        f"--version={version}",
        f"--serialized-file={serialized_file}",
        f"--handler={handler or handler_file()}",
        f"--export-path={store}",
        "--force",
    ]
    if extra_files:
        command.append("--extra-files=" + ",".join(str(path) for path in extra_files))
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(
            f"torch-model-archiver failed for {name}: {done.stderr.strip() or done.stdout.strip()}"
        )
    return store / f"{name}.mar"


@dataclass(frozen=True)
class ModelSettings:
    """How TorchServe runs one model: its archive, workers, and server-side batching."""

    mar: str
    workers: int = 1
    batch_size: int = 1
    max_batch_delay_ms: int = 100
    response_timeout_s: int = 60
    version: str = "1.0"

    def entry(self) -> dict[str, Any]:
        """This model's entry in config.properties' `models` JSON."""
        return {
            self.version: {
                "defaultVersion": True,
                "marName": self.mar,
                "minWorkers": self.workers,
                "maxWorkers": self.workers,
                "batchSize": self.batch_size,
                "maxBatchDelay": self.max_batch_delay_ms,
                "responseTimeout": self.response_timeout_s,
            }
        }


def config_properties(
    ports: Mapping[str, int],
    models: Mapping[str, ModelSettings],
    store: Path,
    *,
    xmx_mb: int = 256,
    gpus: int = 0,
    max_request_bytes: int = 6_553_500,
    model_api: bool = False,
) -> str:
    """config.properties: loopback APIs (REST and gRPC), no token, a bounded heap, Prometheus metrics,
    per-model batching.

    A request body over `max_request_bytes` is answered 413 (TorchServe's default limit is 6,553,500).
    """
    lines = [f"{api}_address=http://{processes.HOST}:{ports[api]}" for api in APIS]
    for api in GRPC_APIS:
        lines += [f"{api}_address={processes.HOST}", f"{api}_port={ports[api]}"]
    lines += [
        f"model_store={store}",
        f"number_of_gpu={gpus}",
        f"max_request_size={max_request_bytes}",
        "disable_token_authorization=true",
        f"enable_model_api={str(model_api).lower()}",
        "metrics_mode=prometheus",
        "default_workers_per_model=1",
        f"vmargs=-Xmx{xmx_mb}m -XX:+UseSerialGC -XX:-UsePerfData",
        "models=" + json.dumps({name: settings.entry() for name, settings in models.items()}),
    ]
    return "\n".join(lines) + "\n"


class TorchServe:
    """A TorchServe instance serving `models` from `store`, run in `workdir` (a context manager).

    `gpus` is config.properties' `number_of_gpu`: 0 keeps every worker on the CPU. `ports` (inference,
    management, metrics and the two gRPC APIs) are free ones unless given.
    """

    def __init__(
        self,
        store: Path,
        models: Mapping[str, ModelSettings],
        workdir: Path,
        *,
        xmx_mb: int = 256,
        gpus: int = 0,
        max_request_bytes: int = 6_553_500,
        model_api: bool = False,
        ports: Mapping[str, int] | None = None,
        timeout_s: float = 180.0,
    ) -> None:
        problem = java_problem()
        if problem:
            raise RuntimeError(problem)
        self.store, self.models, self.workdir = Path(store).resolve(), dict(models), Path(workdir).resolve()
        self.timeout_s = timeout_s
        self.ports = {api: processes.free_port() for api in APIS + GRPC_APIS} | dict(ports or {})
        self.urls = {api: f"http://{processes.HOST}:{self.ports[api]}" for api in APIS}
        self.config = self.workdir / "config.properties"
        self.workdir.mkdir(parents=True, exist_ok=True)
        files.write_atomic(
            self.config,
            config_properties(
                self.ports,
                self.models,
                self.store,
                xmx_mb=xmx_mb,
                gpus=gpus,
                max_request_bytes=max_request_bytes,
                model_api=model_api,
            ),
        )
        self.env = {
            "TMPDIR": str(self.workdir),  # the launcher's pid file
            "TEMP": str(self.workdir),  # java.io.tmpdir: the worker sockets
            "LOG_LOCATION": str(self.workdir / "logs"),
            "METRICS_LOCATION": str(self.workdir / "logs"),
        }
        self.process = processes.ServerProcess(
            self.command(),
            self.urls["inference"] + "/ping",
            name="torchserve",
            timeout_s=timeout_s,
            log_path=self.workdir / "torchserve.log",
            env=self.env,
            cwd=self.workdir,
        )
        self.stop_output = ""
        self.session = requests.Session()

    def command(self) -> list[str]:
        """`torchserve --start` in the foreground with the config, the store and every model by name."""
        return [
            tool("torchserve"),
            "--start",
            "--foreground",
            "--ncs",
            f"--ts-config={self.config}",
            f"--model-store={self.store}",
            "--models",
            *(f"{name}={settings.mar}" for name, settings in self.models.items()),
        ]

    def start(self) -> TorchServe:
        """Start, wait for /ping, then for every model's workers to be READY (or raise with the log)."""
        for port in self.ports.values():
            processes.ensure_port_free(port)
        try:
            self.process.start()
            for name in self.models:
                self.wait_for_workers(name)
        except BaseException:
            self.stop()
            raise
        return self

    def _get(self, api: str, path: str) -> requests.Response:
        response = self.session.get(self.urls[api] + path, timeout=30)
        response.raise_for_status()
        return response

    def describe(self, name: str) -> dict[str, Any]:
        """The management API's description of a model (workers, batch size, delay, ...)."""
        return self._get("management", f"/models/{name}").json()[0]

    def ready_workers(self, name: str) -> int:
        return sum(worker["status"] == "READY" for worker in self.describe(name)["workers"])

    def wait_for_workers(self, name: str) -> None:
        """Wait until all of `name`'s minimum workers are READY; a worker that keeps dying raises."""
        wanted = self.models[name].workers
        deadline = time.perf_counter() + self.timeout_s
        while time.perf_counter() < deadline:
            self.process.check()
            try:
                if self.ready_workers(name) >= wanted:
                    return
            except requests.ConnectionError:
                pass  # the management API may bind a moment after /ping answers
            time.sleep(0.2)
        raise RuntimeError(
            f"model {name!r} has no {wanted} READY worker(s) after {self.timeout_s:.0f} s; "
            f"the server's log ends:\n{self.process.log_tail(30)}"
        )

    def _manage(self, method: str, path: str, params: dict[str, Any] | None = None) -> str:
        """One management API call; its status message, or a RuntimeError with TorchServe's answer."""
        response = self.session.request(
            method, self.urls["management"] + path, params=params, timeout=self.timeout_s
        )
        if not response.ok:
            raise RuntimeError(f"{method} {path} failed: HTTP {response.status_code} {response.text.strip()}")
        return str(response.json()["status"])

    def scale(self, name: str, workers: int) -> str:
        """Set `name`'s workers through the management API and wait until they are READY."""
        params = {"min_worker": workers, "max_worker": workers, "synchronous": "true"}
        status = self._manage("PUT", f"/models/{name}", params)
        self.models[name] = replace(self.models[name], workers=workers)
        self.wait_for_workers(name)
        return status

    def register(self, mar: str, workers: int = 1) -> str:
        """Register another archive (a new model, or a new version of one) through the management API.

        Needs `model_api=True`: TorchServe 0.12 refuses registration otherwise.
        """
        return self._manage(
            "POST", "/models", {"url": mar, "initial_workers": workers, "synchronous": "true"}
        )

    def set_default(self, name: str, version: str) -> str:
        """Make `version` the one `/predictions/{name}` serves (a promotion, or a rollback)."""
        return self._manage("PUT", f"/models/{name}/{version}/set-default")

    def unregister(self, name: str, version: str) -> str:
        """Remove one version of a model (its workers stop)."""
        return self._manage("DELETE", f"/models/{name}/{version}")

    def default_version(self, name: str) -> str:
        """The version `/predictions/{name}` serves now."""
        return str(self.describe(name)["modelVersion"])

    def metrics(self) -> str:
        """The Prometheus text of the metrics API."""
        return self._get("metrics", "/metrics").text

    def stop(self) -> int | None:
        """`torchserve --stop` (its pid file is in workdir), then the process group's stop as a backstop."""
        if self.process.process is not None and self.process.process.poll() is None:
            done = subprocess.run(
                [tool("torchserve"), "--stop"],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, **self.env},
                cwd=self.workdir,
            )
            self.stop_output = (done.stdout + done.stderr).strip()
            try:
                self.process.process.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self.session.close()
        return self.process.stop()

    def __enter__(self) -> TorchServe:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
