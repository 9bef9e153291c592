"""`labkit run --cluster` and `labkit sweep` on a real two-node Ray cluster started here with `ray start`.

A head node and a worker node run as separate processes joined by address, as on a cloud cluster; the
worker offers a custom resource so that tasks can be pinned to it. Tiny notebooks keep it quick.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from labkit import ledger
from labkit.core import paths
from labkit.workbook import catalog, cli, cluster, report, runner, sweep
from labkit.workbook.params import Param

pytestmark = [pytest.mark.slow, pytest.mark.server]

PARAMETERS = 'profile = "quick"\nseed = 0\ndevice = "auto"\nwork = 1'
RECORD = (
    "from labkit import ledger\n"
    "ledger.set_context(notebook='{name}', params={{'work': work, 'seed': seed}})\n"
    "ledger.record('test.tiny.work', work * 10 + seed, 'count')"
)
RAY = Path(sys.executable).with_name("ray")


@pytest.fixture
def series(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notebook_writer: Callable[..., Path]) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    pidfile = tmp_path / "kernel.pid"
    notebook_writer(folder, "90_ok", PARAMETERS, RECORD.format(name="90_ok"), "print('PASS: recorded')")
    notebook_writer(
        folder,
        "92_sleeps",
        PARAMETERS,
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))",
        "time.sleep(120)",
    )
    declared = catalog.COMMON + (Param("work", int, 1, minimum=1, maximum=10, help="how much"),)
    for name in ("90_ok", "92_sleeps"):
        monkeypatch.setitem(catalog.SERIES, name, catalog.NotebookEntry(name, name, declared))
    monkeypatch.setattr(paths, "notebooks_dir", lambda: folder)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head (1 CPU) and a worker (2 CPUs, resource labkit_worker=2) started with `ray start`.

    Token authentication on, with a token of its own, for the nodes and for this driver: Ray turns it on
    by itself for a head once a token file exists, and a worker without the token is refused.
    """
    port = _free_port()
    auth = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**os.environ, **auth}
    common = ["--disable-usage-stats", "--object-store-memory", str(100 * 2**20)]
    head = [str(RAY), "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"]
    worker = [str(RAY), "start", f"--address=127.0.0.1:{port}", "--num-cpus=2"]
    worker += ["--resources", json.dumps({"labkit_worker": 2})]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in auth.items():
            patch.setenv(name, value)
        try:
            for command in (head + common, worker + common):
                started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
                assert started.returncode == 0, f"{' '.join(command[:3])} failed: {started.stderr[-800:]}"
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_without_cluster_ray_is_never_imported(series: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from labkit.core import paths
        from labkit.workbook import catalog, cli
        from labkit.workbook.params import Param
        declared = catalog.COMMON + (Param("work", int, 1, minimum=1, maximum=10, help="how much"),)
        catalog.SERIES["90_ok"] = catalog.NotebookEntry("90_ok", "90_ok", declared)
        paths.notebooks_dir = lambda: Path({str(series)!r})
        run = cli.main(["run", "90", "--no-progress"])
        swept = cli.main(["sweep", "90", "-p", "work", "1,2"])
        print(run, swept, "ray" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.split()[-3:] == ["0", "0", "False"], (done.stdout[-500:], done.stderr[-500:])


def test_unreachable_cluster_is_one_sentence_within_30_s(
    series: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    code = cli.main(["run", "90", "--cluster", "127.0.0.1:9", "--no-progress"])
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_BAD_INPUT and seconds < 30, (code, seconds)
    assert err.startswith("labkit run: cannot reach a Ray cluster at 127.0.0.1:9") and err.count("\n") == 0, (
        err
    )
    assert not paths.runs_dir().exists() or not any(paths.runs_dir().iterdir()), "a run folder was created"
    code = cli.main(["run", "90", "--cluster", "head-node"])
    assert "must be 'local', 'auto', 'HOST:PORT'" in capsys.readouterr().err, code


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-p", "work", "1,99"], "work"),
        (["-p", "work", "1,x"], "work"),
        (["-p", "nothing", "1,2"], "unknown parameter 'nothing'"),
        (["-p", "work", "1,2", "--seeds", "0,a"], "'a' is not an integer"),
        (["-p", "work", "1", "--resource", "labkit_worker=0"], "NAME=AMOUNT"),
    ],
)
def test_a_bad_sweep_is_refused_before_anything_runs(
    series: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = cli.main(["sweep", "90", *argv, "--cluster", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and message in err, (code, err)
    assert "cannot reach" not in err, "the sweep was not validated before connecting"
    assert not paths.runs_dir().exists() or not any(paths.runs_dir().iterdir()), "a run folder was created"


def _labkit(*argv: str) -> list[dict]:
    """`labkit run ARGV` in its own process (Ray's state is per process), its summary rows."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("labkit")), "run", *argv, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (argv, done.stdout[-1500:], done.stderr[-1500:])
    run_dir = Path(done.stdout.split("Executed notebooks and summary.json: ")[1].split()[0])
    return [run_dir.name, json.loads((run_dir / "summary.json").read_text())]


def test_local_cluster_matches_a_plain_run_of_00() -> None:
    """00 through `--cluster local` and without: same status and checks; Ray adds at most 15 s.

    Runs before the two-node cluster below starts, so that nothing else competes for the CPUs, and in
    child processes, so that this process's first Ray connection is the one to that cluster.
    """
    plain_id, plain = _labkit("00")
    ray_id, on_ray = _labkit("00", "--cluster", "local")
    assert [(o["status"], o["checks_passed"]) for o in on_ray] == [
        (o["status"], o["checks_passed"]) for o in plain
    ], (plain, on_ray)
    overhead = ledger.latest("scale.ray.overhead_s", run_id=ray_id)["value"]
    assert overhead <= 15, f"Ray added {overhead} s to a run of 00 (plain {plain[0]['seconds']} s)"
    metrics = {(r["run_id"], r["metric"]) for r in ledger.read() if r["notebook"] == "00_environment_check"}
    assert {m for run, m in metrics if run == plain_id} == {m for run, m in metrics if run == ray_id}


def test_sweep_on_two_nodes_pinned_to_the_worker_with_mean_and_spread(series: Path, two_nodes: str) -> None:
    options = cluster.ClusterOptions(two_nodes, cpus=1, resources={"labkit_worker": 1}, ship_code=True)
    sweep_dir, outcomes = sweep.run("90", {"work": [1, 2]}, [0, 1, 2], timeout_s=120, cluster=options)
    assert [o.status for o in outcomes] == ["ok"] * 6, [(o.notebook, o.error) for o in outcomes]
    assert all(o.checks_passed == 1 for o in outcomes), [o.checks_passed for o in outcomes]
    placement = json.loads((sweep_dir / "placement.json").read_text())
    import ray

    ray.init(address=two_nodes, log_to_driver=False)
    try:
        workers = {n["NodeID"] for n in ray.nodes() if n["Alive"] and "labkit_worker" in n["Resources"]}
    finally:
        ray.shutdown()
    assert {p["node"] for p in placement.values()} <= workers, (placement, workers)
    assert all(p["labkit"] != str(paths.repo_root()) for p in placement.values()), placement
    records = ledger.read()
    sweep_id = sweep_dir.name
    tiny = [r for r in records if r["metric"] == "test.tiny.work"]
    assert len(tiny) == 6 and {r["sweep_id"] for r in tiny} == {sweep_id}, tiny
    rows = sweep.sweep_summary(records, sweep_id)
    assert [(r["setting"], r["n"], r["mean"], round(r["spread"], 6)) for r in rows] == [
        ("work=1", 3, 11.0, 1.0),
        ("work=2", 3, 21.0, 1.0),
    ], rows
    assert ledger.latest("scale.ray.sweep_tasks")["value"] == 6
    text = report.build().read_text()
    assert f"## Sweep {sweep_id}" in text and "| test.tiny.work | work=1 | 3 | 11 | 1 |" in text, text[-800:]
    assert (paths.results_dir() / "report_files" / "sweep.png").stat().st_size > 1000


def _kill_worker_of_sleeping_task(pidfile: Path, deadline_s: float = 90) -> int:
    """Once the sleeping notebook's kernel is up, SIGKILL the Ray worker running it; return the kernel pid."""
    started = time.monotonic()
    while not pidfile.exists() and time.monotonic() - started < deadline_s:
        time.sleep(0.2)
    kernel = psutil.Process(int(pidfile.read_text()))
    for process in psutil.process_iter(["cmdline"]):
        if "labkit.workbook.execute" in " ".join(
            process.info["cmdline"] or []
        ) and kernel in process.children(recursive=True):
            process.parent().kill()
            return kernel.pid
    raise AssertionError("no execute process above the sleeping kernel")


def test_a_killed_worker_fails_its_notebook_only(series: Path, two_nodes: str) -> None:
    pidfile = series.parent / "kernel.pid"
    killed: list[int] = []
    killer = threading.Thread(target=lambda: killed.append(_kill_worker_of_sleeping_task(pidfile)))
    killer.start()
    options = cluster.ClusterOptions(two_nodes, cpus=1)
    run_dir, outcomes = runner.run(["90", "92"], timeout_s=120, progress=False, cluster=options)
    killer.join()
    status = {o.notebook: o.status for o in outcomes}
    assert status == {"90_ok": "ok", "92_sleeps": "failed"}, outcomes
    assert "Ray worker" in outcomes[1].error and "died" in outcomes[1].error.lower(), outcomes[1].error
    assert outcomes[1].seconds < 100, "the failure was reported only at the notebook's timeout"
    mine = [r for r in ledger.read() if r.get("run_id") == run_dir.name and r["metric"] == "test.tiny.work"]
    assert len(mine) == 1, mine
    time.sleep(3)
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE, (
        f"the kernel {killed[0]} of the killed worker still runs"
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [s["notebook"] for s in summary] == ["90_ok", "92_sleeps"], summary


def test_a_task_no_node_can_run_is_refused(series: Path, two_nodes: str) -> None:
    options = cluster.ClusterOptions(two_nodes, cpus=1, resources={"labkit_gpu_node": 1})
    with pytest.raises(ValueError, match="labkit_gpu_node 1 \\(cluster has 0\\)"):
        runner.run(["90"], timeout_s=60, progress=False, cluster=options)


def test_grid_and_seed_parsing_names_the_bad_part() -> None:
    assert sweep.parse_grid([("work", "1, 2,3"), ("rate", "0.1")]) == {"work": [1, 2, 3], "rate": [0.1]}
    assert sweep.parse_seeds("0,1,2") == [0, 1, 2]
    for pairs, message in [
        ([("work", ",")], "gives no values"),
        ([("work", "1"), ("work", "2")], "swept twice"),
        ([("seed", "1,2")], "--seeds"),
    ]:
        with pytest.raises(ValueError, match=message):
            sweep.parse_grid(pairs)
    with pytest.raises(ValueError, match="repeats a seed"):
        sweep.parse_seeds("1,1")
    with pytest.raises(ValueError, match="must be NAME=AMOUNT"):
        cluster.parse_resources(["gpu"])
    assert cluster.parse_resources(["labkit_worker=0.5"]) == {"labkit_worker": 0.5}
