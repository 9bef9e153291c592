"""`labkit run --cluster` and `labkit sweep --cluster`: notebook executions as Ray tasks.

Each execution is a Ray task that declares its resources (CPUs, one GPU for `--device gpu`, and any
custom resource) and returns what it produced: the executed notebook, its summary row and its ledger
records. The driver writes them into `results/runs/<run-id>/` and the ledger, so a run on a cluster reads
exactly like a local one afterwards. Workers share no file system with the driver; they find labkit
installed, or receive this checkout through Ray's runtime environment (`ship_code`).

Ray is imported only here, and only when a cluster is asked for.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labkit import ledger
from labkit.core import files, paths
from labkit.workbook import runner

LOCAL = "local"
CONNECT_TIMEOUT_S = 10.0
OBJECT_STORE_MB = 100  # Ray's floor is 75 MiB; a 2 GB Binder cannot spare Ray's default of 30% of memory
SHIP_EXCLUDES = [".git", ".venv", "results", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache"]


@dataclass
class ClusterOptions:
    """Where and how to run on Ray: the address, each task's resources, and whether to ship this checkout."""

    address: str
    cpus: float = 1.0
    resources: dict[str, float] = field(default_factory=dict)
    ship_code: bool = False


@dataclass
class Task:
    """One notebook execution for the cluster: filed under `key`, run with `parameters` under `run_id`."""

    key: str
    source: Path
    parameters: dict[str, Any]
    run_id: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Resources:
    """What each task asks the scheduler for."""

    cpus: float = 1.0
    gpus: float = 0.0
    custom: dict[str, float] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        return {
            "num_cpus": self.cpus,
            "num_gpus": self.gpus,
            "resources": dict(self.custom),
            "max_retries": 0,
        }


def parse_resources(items: list[str]) -> dict[str, float]:
    """`NAME=AMOUNT` strings (as given to `--resource`) as a dict, or ValueError naming the bad one."""
    custom = {}
    for item in items:
        name, sep, amount = item.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if not sep or not name or value <= 0:
            raise ValueError(
                f"--resource {item!r} must be NAME=AMOUNT with a positive amount, e.g. labkit_worker=1."
            )
        custom[name] = value
    return custom


def _host_port(address: str) -> tuple[str, int] | None:
    """The host and port to probe for `host:port` or `ray://host:port`; None for `auto`/`local`."""
    if address in (LOCAL, "auto"):
        return None
    bare = address.removeprefix("ray://")
    host, sep, port = bare.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(
            f"cluster address {address!r} must be 'local', 'auto', 'HOST:PORT' or 'ray://HOST:PORT'."
        )
    return host, int(port)


def probe(address: str) -> None:
    """Fail within seconds, in one sentence, when nothing listens there (Ray itself retries for minutes)."""
    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ConnectionError(
            f"cannot reach a Ray cluster at {address} ({error.strerror or error}); start one with "
            "`ray start --head` or check the address."
        ) from None


def runtime_env(ship_code: bool) -> dict[str, Any]:
    """This checkout as the tasks' working directory when `ship_code`, else nothing: a runtime
    environment costs every task a fresh worker (seconds), and installed workers need none."""
    if not ship_code:
        return {}
    return {"working_dir": str(paths.repo_root()), "excludes": SHIP_EXCLUDES}


@contextmanager
def connected(address: str, *, ship_code: bool = False) -> Iterator[Any]:
    """Connect to (or, for `local`, start) a Ray cluster; always disconnect. Yields the `ray` module."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    probe(address)
    import ray

    options: dict[str, Any] = {"runtime_env": runtime_env(ship_code), "log_to_driver": False}  # usage stats:
    # off through the environment set above, which the local instance's processes inherit
    if address == LOCAL:
        options.update(
            address="local",
            include_dashboard=False,
            object_store_memory=OBJECT_STORE_MB * 2**20,
        )
    else:
        options["address"] = address
    try:
        ray.init(**options)
    except ConnectionError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConnectionError(
            f"cannot join the Ray cluster at {address!r} ({first}); start one with `ray start --head`."
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def check_feasible(ray: Any, resources: Resources) -> None:
    """Refuse, before submitting, a task that no node of the cluster could ever run."""
    total = ray.cluster_resources()
    wanted = {"CPU": resources.cpus, "GPU": resources.gpus, **resources.custom}
    missing = [
        f"{name} {amount:g} (cluster has {total.get(name, 0):g})"
        for name, amount in wanted.items()
        if amount > total.get(name, 0)
    ]
    if missing:
        raise ValueError(
            f"no node of the cluster offers what each notebook asks for: {', '.join(missing)}; lower --cpus, "
            "drop --device gpu or --resource, or add a node that has it."
        )


def execute_remote(task: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """The body of the Ray task: run one notebook on this node and return everything it produced.

    Artifacts are cached in a per-node results folder; the ledger records of this execution are picked out
    by run id and notebook and returned, so the driver's ledger gets each record exactly once.
    """
    import ray

    from labkit import ledger
    from labkit.workbook import runner

    results = Path(tempfile.gettempdir()) / "labkit-ray" / "results"
    with tempfile.TemporaryDirectory(prefix="labkit-task-") as scratch:
        source = Path(scratch) / task["name"]
        source.write_bytes(task["source"])
        target = Path(scratch) / "executed" / task["name"]
        target.parent.mkdir()
        env = {
            **os.environ,
            **task["env"],
            "LABKIT_RUN_ID": task["run_id"],
            "LABKIT_RESULTS_DIR": str(results),
            "PYTHONUNBUFFERED": "1",
            "LABKIT_HEADLESS": "1",
        }
        cwd = paths.notebooks_dir() if paths.notebooks_dir().is_dir() else Path(scratch)
        outcome = runner.execute(
            source, target, task["parameters"], timeout_s=timeout_s, env=env, cwd=cwd, die_with_parent=True
        )
        stem = Path(task["name"]).stem
        records = [
            r
            for r in ledger.read(results / "ledger.jsonl")
            if r.get("run_id") == task["run_id"] and r.get("notebook") == stem
        ]
        return {
            "result": asdict(outcome),
            "executed": target.read_bytes() if target.exists() else None,
            "records": records,
            "node": ray.get_runtime_context().get_node_id(),
            "labkit": str(Path(runner.__file__).resolve().parents[2]),
        }


Finished = Callable[[Task, dict[str, Any]], None]


def submit_all(
    ray: Any, tasks: list[Task], resources: Resources, *, timeout_s: float, on_finished: Finished
) -> None:
    """Submit every task, hand each payload to `on_finished` as it completes; Ctrl-C cancels the rest.

    A task whose worker died or was killed comes back as a failed result that names the reason.
    """
    remote = ray.remote(execute_remote).options(**resources.options())
    pending = {
        remote.remote(
            {
                "name": task.source.name,
                "source": task.source.read_bytes(),
                "parameters": task.parameters,
                "run_id": task.run_id,
                "env": task.env,
            },
            timeout_s,
        ): task
        for task in tasks
    }
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                on_finished(task, _payload(ray, ref, task))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def _payload(ray: Any, ref: Any, task: Task) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        reason = next(
            (line for line in lines if "died" in line or "killed" in line.lower()), lines[0] if lines else ""
        )
        return {
            "result": {
                "notebook": Path(task.source).stem,
                "status": "failed",
                "seconds": round(time.perf_counter() - started, 1),
                "peak_memory_mb": 0.0,
                "checks_passed": 0,
                "error": f"the Ray worker failed: {type(error).__name__}: {reason.strip()}",
            },
            "executed": None,
            "records": [],
            "node": None,
        }


def run_tasks(
    tasks: list[Task], run_dir: Path, options: ClusterOptions, *, timeout_s: float, device: str
) -> list[runner.NotebookResult]:
    """Execute the tasks as Ray tasks; write each executed notebook, summary row and ledger record here.

    Ray's overhead (the run's wall time minus the time the notebooks themselves ran, when the cluster runs
    them one at a time as a 2-core machine does) is recorded as `scale.ray.overhead_s`.
    """
    resources = Resources(
        cpus=options.cpus, gpus=1.0 if device in ("gpu", "cuda") else 0.0, custom=options.resources
    )
    started = time.perf_counter()
    finished: dict[str, runner.NotebookResult] = {}
    placement: dict[str, dict[str, Any]] = {}

    def file_result(task: Task, payload: dict[str, Any]) -> None:
        outcome = runner.NotebookResult(**{**payload["result"], "notebook": task.key})
        if payload["executed"] is not None:
            files.write_atomic(run_dir / f"{task.key}.ipynb", payload["executed"])
            outcome.checks_passed = runner.count_checks(run_dir / f"{task.key}.ipynb")
        for record in payload["records"]:
            ledger.append(record)
        finished[task.key] = outcome
        placement[task.key] = {"node": payload["node"], "labkit": payload.get("labkit")}
        files.write_json(run_dir / "placement.json", placement)
        print(runner.outcome_line(outcome), file=sys.stderr)
        ordered = [finished[t.key] for t in tasks if t.key in finished]
        files.write_json(run_dir / "summary.json", [asdict(o) for o in ordered])

    with connected(options.address, ship_code=options.ship_code) as ray:
        check_feasible(ray, resources)
        submit_all(ray, tasks, resources, timeout_s=timeout_s, on_finished=file_result)
    outcomes = [finished[t.key] for t in tasks]
    overhead_s = time.perf_counter() - started - sum(o.seconds for o in outcomes)
    ledger.record(
        "scale.ray.overhead_s",
        round(overhead_s, 2),
        "s",
        run_id=run_dir.name,
        notebook="labkit run --cluster",
        params={"address": options.address, "notebooks": [t.key for t in tasks], "cpus": options.cpus},
    )
    return outcomes
