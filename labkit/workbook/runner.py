"""`labkit run`: execute the series (or some notebooks) with papermill, one kernel each.

Parameters are validated before any kernel starts; each notebook runs in its own process tree with a
timeout, and `results/runs/<run-id>/` gets the executed notebooks, `run.json` and `summary.json`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import psutil
from tqdm import tqdm

from labkit.core import envinfo, files, paths
from labkit.workbook import catalog, params

if TYPE_CHECKING:
    from labkit.workbook.cluster import ClusterOptions

DEFAULT_TIMEOUT_S = 900
_PASS_RE = re.compile(r"^PASS: ", re.MULTILINE)


@dataclass
class NotebookResult:
    """One notebook's result in a run (the keys of summary.json, plus the error if any)."""

    notebook: str
    status: str
    seconds: float
    peak_memory_mb: float
    checks_passed: int
    error: str | None = None


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def available_notebooks(directory: Path | None = None) -> list[Path]:
    """The series' notebooks in numeric order."""
    folder = directory or paths.notebooks_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def resolve(names: list[str], directory: Path | None = None) -> list[Path]:
    """Notebook paths for names like '01', '01_baseline_models' or a path; all when empty."""
    found = available_notebooks(directory)
    if not names:
        return found
    chosen = []
    for name in names:
        stem = Path(name).stem
        matches = [p for p in found if p.stem == stem or p.stem.startswith(stem + "_")]
        if Path(name).suffix == ".ipynb" and Path(name).exists():
            matches = [Path(name).resolve()]
        if len(matches) != 1:
            raise ValueError(
                f"notebook {name!r} matches {len(matches)} notebooks; "
                f"available: {', '.join(p.stem for p in found)}."
            )
        chosen.append(matches[0])
    return chosen


def injected_parameters(
    notebook: str, *, profile: str, device: str, overrides: dict[str, Any]
) -> dict[str, Any]:
    """What papermill injects, validated now so a bad value fails before any kernel starts.

    Headless runs apply the exercises' reference solutions (`reveal_solutions`), so every exercise's
    check is proven to pass with its reference, unless the overrides say otherwise.
    """
    declared = catalog.params_of(notebook)
    injected: dict[str, Any] = {"profile": profile, "device": device, "reveal_solutions": True}
    injected.update({k: v for k, v in overrides.items() if k in {p.name for p in declared}})
    params.validate(declared, {**catalog.defaults(notebook), **injected}, notebook=notebook)
    return injected


def plan(
    notebooks: list[Path], profile: str, device: str, *, overrides: dict[str, Any]
) -> dict[Path, dict[str, Any]]:
    """Validate the whole run up front: each notebook's injected parameters, or ValueError."""
    declared_anywhere = {p.name for nb in notebooks for p in catalog.params_of(nb.stem)}
    for name, value in overrides.items():
        if name not in declared_anywhere:
            raise ValueError(
                f"unknown parameter {name!r} (value {value!r}): none of "
                f"{', '.join(nb.stem for nb in notebooks)} declares it; see `labkit params NOTEBOOK`."
            )
    return {
        nb: injected_parameters(nb.stem, profile=profile, device=device, overrides=overrides)
        for nb in notebooks
    }


def count_checks(executed: Path) -> int:
    """Number of `PASS:` lines the notebook printed."""
    if not executed.exists():
        return 0
    nb = nbformat.read(executed, as_version=4)
    total = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                total += len(_PASS_RE.findall(output.get("text", "")))
    return total


def _tree_memory_mb(process: psutil.Process) -> float:
    """Memory of the driver's descendants (the kernel and whatever it started), as the sum of their PSS.

    PSS charges a shared page to each process in proportion, so TensorFlow's libraries, mapped by the
    kernel and by a server it starts, count once, as the machine's memory limit counts them; summing RSS
    would count them twice. Where PSS is unavailable (not Linux), RSS.
    """
    total = 0
    try:
        for child in process.children(recursive=True):
            try:
                info = child.memory_full_info()
                total += getattr(info, "pss", info.rss)
            except psutil.AccessDenied:
                total += child.memory_info().rss
            except psutil.Error:
                continue
    except psutil.Error:
        return 0.0
    return total / 2**20


def _kill_tree(process: psutil.Process) -> None:
    """Kill the driver and every descendant, including kernels in their own sessions."""
    try:
        victims = process.children(recursive=True) + [process]
    except psutil.Error:
        victims = [process]
    for victim in victims:
        try:
            os.killpg(os.getpgid(victim.pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            victim.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=10)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux), as when a Ray worker is killed."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def execute(
    source: Path,
    target: Path,
    parameters: dict[str, Any],
    *,
    timeout_s: float,
    env: dict[str, str],
    cwd: Path | None = None,
    die_with_parent: bool = False,
) -> NotebookResult:
    """Run one notebook in a child process; enforce the timeout; measure time and peak memory.

    `die_with_parent` ends the child (and its kernel) when the caller is killed, as a Ray task needs.
    """
    with tempfile.TemporaryDirectory(prefix="labkit-") as scratch:
        parameters_file = Path(scratch) / "parameters.json"
        result_file = Path(scratch) / "result.json"
        parameters_file.write_text(json.dumps(parameters), encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "labkit.workbook.execute",
            str(source),
            str(target),
            str(parameters_file),
            str(cwd or source.parent),
            str(result_file),
        ]
        log_path = Path(scratch) / "driver.log"
        started = time.perf_counter()
        with open(log_path, "wb") as log:  # a file, not a pipe: a chatty kernel cannot block on it
            child = subprocess.Popen(
                command,
                env=env,
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,
            )
        driver = psutil.Process(child.pid)
        peak, status = 0.0, None
        while child.poll() is None:
            peak = max(peak, _tree_memory_mb(driver))
            if time.perf_counter() - started > timeout_s:
                _kill_tree(driver)
                status = "timeout"
                break
            time.sleep(0.2)
        child.wait()
        seconds = time.perf_counter() - started
        stderr = log_path.read_text(errors="replace")
        if status == "timeout":
            return NotebookResult(
                source.stem,
                "timeout",
                round(seconds, 1),
                round(peak, 1),
                count_checks(target),
                f"no result after {timeout_s:.0f} s; killed",
            )
        if not result_file.exists():
            tail = " | ".join(stderr.strip().splitlines()[-3:])
            return NotebookResult(
                source.stem,
                "failed",
                round(seconds, 1),
                round(peak, 1),
                count_checks(target),
                f"driver exited {child.returncode}: {tail}",
            )
        result = json.loads(result_file.read_text(encoding="utf-8"))
        return NotebookResult(
            source.stem,
            result["status"],
            round(seconds, 1),
            round(peak, 1),
            count_checks(target),
            result["error"],
        )


def run(
    names: list[str] | None = None,
    profile: str = "quick",
    device: str = "auto",
    *,
    overrides: dict[str, Any] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    run_id: str | None = None,
    progress: bool = True,
    inject: bool = True,
    cluster: ClusterOptions | None = None,
) -> tuple[Path, list[NotebookResult]]:
    """Run notebooks in numeric order; return the run directory and one NotebookResult per notebook.

    `inject=False` runs each notebook with its parameters cell as committed (papermill adds no cell), as
    `labkit refresh` needs; the defaults are still validated first. With `cluster`, every notebook is a
    Ray task on that cluster and the results come back here (`labkit.workbook.cluster`).
    """
    notebooks = resolve(list(names or []))
    if not notebooks:
        raise ValueError(f"no notebooks found in {paths.notebooks_dir()}.")
    planned = plan(notebooks, profile, device, overrides=dict(overrides or {}))
    if not inject:
        planned = {nb: {} for nb in planned}
    if cluster is not None:
        from labkit.workbook.cluster import probe

        probe(cluster.address)  # a bad or unreachable address fails before anything is written
    run_id = run_id or new_run_id()
    run_dir = start_run_dir(
        run_id,
        {
            "profile": profile,
            "device": device,
            "overrides": overrides or {},
            "notebooks": [nb.stem for nb in notebooks],
            "timeout_s": timeout_s,
            "cluster": cluster.address if cluster else None,
        },
    )
    if cluster is not None:
        from labkit.workbook import cluster as on_ray

        tasks = [on_ray.Task(nb.stem, nb, planned[nb], run_id) for nb in notebooks]
        return run_dir, on_ray.run_tasks(tasks, run_dir, cluster, timeout_s=timeout_s, device=device)
    env = {
        **os.environ,
        "LABKIT_RUN_ID": run_id,
        "LABKIT_RESULTS_DIR": str(paths.results_dir()),
        "PYTHONUNBUFFERED": "1",
        "LABKIT_HEADLESS": "1",
    }
    outcomes: list[NotebookResult] = []
    bar = tqdm(
        notebooks,
        desc=f"run {run_id}",
        unit="notebook",
        disable=None if progress else True,  # None: no bar when stderr is not a terminal
        file=sys.stderr,
    )
    for notebook in bar:
        bar.set_postfix_str(notebook.stem)
        outcome = execute(notebook, run_dir / notebook.name, planned[notebook], timeout_s=timeout_s, env=env)
        outcomes.append(outcome)
        bar.write(outcome_line(outcome), file=sys.stderr)
        files.write_json(run_dir / "summary.json", [asdict(o) for o in outcomes])
    return run_dir, outcomes


def start_run_dir(run_id: str, description: dict[str, Any]) -> Path:
    """Create `results/runs/<run-id>/` with its `run.json` (what was asked, when, on what)."""
    run_dir = paths.runs_dir() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    files.write_json(
        run_dir / "run.json",
        {
            "run_id": run_id,
            **description,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "environment": envinfo.report(),
        },
    )
    return run_dir


def outcome_line(outcome: NotebookResult) -> str:
    return f"{outcome.notebook}: {outcome.status} in {outcome.seconds:.1f} s" + (
        f" ({outcome.error})" if outcome.error else ""
    )


def format_table(outcomes: list[NotebookResult]) -> str:
    """The summary table printed at the end of a run."""
    header = f"{'notebook':<44} {'status':<8} {'seconds':>8} {'peak_memory_mb':>14} {'checks':>7}"
    lines = [header, "-" * len(header)]
    for o in outcomes:
        lines.append(
            f"{o.notebook:<44} {o.status:<8} {o.seconds:>8.1f} "
            f"{o.peak_memory_mb:>14.1f} {o.checks_passed:>7d}"
        )
    return "\n".join(lines)
