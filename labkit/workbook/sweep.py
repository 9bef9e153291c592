"""`labkit sweep`: one notebook over a grid of parameter settings x seeds, here or on a Ray cluster.

Every combination is validated before anything runs. Each point runs under its own run id
(`<sweep-id>-NN`) and every ledger record it writes carries the sweep id (`LABKIT_SWEEP_ID`), so
`labkit report` and notebook 99 can show each metric per setting as a mean and a spread over seeds.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labkit import ledger
from labkit.core import files, paths
from labkit.workbook import cluster as on_ray
from labkit.workbook import params, runner

MAX_POINTS = 200


@dataclass
class SweepPoint:
    """One cell of the grid: its setting (the swept parameters), its seed, and its run id."""

    key: str
    setting: dict[str, Any]
    seed: int
    run_id: str


def parse_grid(pairs: list[tuple[str, str]]) -> dict[str, list[Any]]:
    """`-p NAME V1,V2` pairs as {NAME: [V1, V2]}, each value parsed as the command line parses one."""
    grid: dict[str, list[Any]] = {}
    for name, text in pairs:
        values = [params.parse_cli_value(v.strip()) for v in text.split(",") if v.strip()]
        if not values:
            raise ValueError(f"-p {name} {text!r} gives no values; write them as V1,V2,...")
        if name in grid:
            raise ValueError(
                f"parameter {name!r} is swept twice; give all its values in one -p {name} V1,V2."
            )
        if name == "seed":
            raise ValueError("give seeds with --seeds 0,1,2, not -p seed.")
        grid[name] = values
    return grid


def parse_seeds(text: str) -> list[int]:
    """`0,1,2` as [0, 1, 2], or ValueError naming the bad seed."""
    seeds = []
    for part in text.split(","):
        try:
            seeds.append(int(part))
        except ValueError:
            raise ValueError(
                f"--seeds {text!r}: {part!r} is not an integer; write e.g. --seeds 0,1,2."
            ) from None
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r} repeats a seed.")
    return seeds


def new_sweep_id() -> str:
    return f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def plan(
    notebook: Path, grid: dict[str, list[Any]], seeds: list[int], *, profile: str, device: str, sweep_id: str
) -> list[tuple[SweepPoint, dict[str, Any]]]:
    """Every grid point with its injected parameters, all validated before any runs (or ValueError)."""
    settings = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if len(settings) * len(seeds) > MAX_POINTS:
        raise ValueError(
            f"{len(settings)} settings x {len(seeds)} seeds = {len(settings) * len(seeds)} runs, over the "
            f"limit of {MAX_POINTS}; sweep fewer values."
        )
    planned = []
    for number, (setting, seed) in enumerate(itertools.product(settings, seeds)):
        overrides = {**setting, "seed": seed}
        injected = runner.plan([notebook], profile, device, overrides=overrides)[notebook]
        point = SweepPoint(f"{notebook.stem}--{number:02d}", setting, seed, f"{sweep_id}-{number:02d}")
        planned.append((point, injected))
    return planned


def run(
    notebook_name: str,
    grid: dict[str, list[Any]],
    seeds: list[int],
    *,
    profile: str = "quick",
    device: str = "auto",
    timeout_s: float = runner.DEFAULT_TIMEOUT_S,
    cluster: on_ray.ClusterOptions | None = None,
) -> tuple[Path, list[runner.NotebookResult]]:
    """Run the sweep; return its folder (`results/runs/<sweep-id>/`) and one result per point."""
    notebook = runner.resolve([notebook_name])[0]
    sweep_id = new_sweep_id()
    planned = plan(notebook, grid, seeds, profile=profile, device=device, sweep_id=sweep_id)
    if cluster is not None:
        on_ray.probe(cluster.address)  # a bad or unreachable address fails before anything is written
    sweep_dir = runner.start_run_dir(
        sweep_id,
        {
            "sweep_id": sweep_id,
            "notebook": notebook.stem,
            "profile": profile,
            "device": device,
            "grid": grid,
            "seeds": seeds,
            "points": [asdict(point) for point, _ in planned],
            "timeout_s": timeout_s,
            "cluster": cluster.address if cluster else None,
        },
    )
    tasks = [
        on_ray.Task(point.key, notebook, injected, point.run_id, env={"LABKIT_SWEEP_ID": sweep_id})
        for point, injected in planned
    ]
    if cluster is not None:
        outcomes = on_ray.run_tasks(tasks, sweep_dir, cluster, timeout_s=timeout_s, device=device)
    else:
        outcomes = _run_here(tasks, sweep_dir, timeout_s=timeout_s)
    ledger.record(
        "scale.ray.sweep_tasks" if cluster else "scale.local.sweep_tasks",
        sum(o.status == "ok" for o in outcomes),
        "count",
        run_id=sweep_id,
        notebook="labkit sweep",
        sweep_id=sweep_id,
        params={"notebook": notebook.stem, "grid": grid, "seeds": seeds, "submitted": len(tasks)},
    )
    return sweep_dir, outcomes


def _run_here(tasks: list[on_ray.Task], sweep_dir: Path, *, timeout_s: float) -> list[runner.NotebookResult]:
    """The sweep on this machine, one point after the other."""
    outcomes = []
    for task in tasks:
        env = {
            **os.environ,
            **task.env,
            "LABKIT_RUN_ID": task.run_id,
            "LABKIT_RESULTS_DIR": str(paths.results_dir()),
            "PYTHONUNBUFFERED": "1",
            "LABKIT_HEADLESS": "1",
        }
        outcome = runner.execute(
            task.source, sweep_dir / f"{task.key}.ipynb", task.parameters, timeout_s=timeout_s, env=env
        )
        outcome.notebook = task.key
        outcomes.append(outcome)
        print(f"{task.key}: {outcome.status} in {outcome.seconds:.1f} s", file=sys.stderr)
        files.write_json(sweep_dir / "summary.json", [asdict(o) for o in outcomes])
    return outcomes


def sweep_ids(records: Iterable[dict[str, Any]]) -> list[str]:
    """Every sweep id in the ledger, oldest first."""
    seen: dict[str, None] = {}
    for entry in records:
        if entry.get("sweep_id"):
            seen.setdefault(entry["sweep_id"], None)
    return list(seen)


def sweep_summary(records: Iterable[dict[str, Any]], sweep_id: str) -> list[dict[str, Any]]:
    """Each metric of a sweep per setting: mean, spread (sample standard deviation) and seeds, n.

    The setting is read from the records: the parameters whose values differ between the sweep's points,
    the seed aside.
    """
    points = [r for r in records if r.get("sweep_id") == sweep_id and r.get("notebook") != "labkit sweep"]
    keys = sorted({k for r in points for k in r.get("params", {})} - {"seed"})
    varying = [k for k in keys if len({json.dumps(r["params"].get(k), sort_keys=True) for r in points}) > 1]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in points:
        setting = ", ".join(f"{k}={r['params'].get(k)}" for k in varying) or "(one setting)"
        groups.setdefault((r["metric"], setting), []).append(r)
    rows = []
    for (metric, setting), found in sorted(groups.items()):
        values = [float(r["value"]) for r in found]
        rows.append(
            {
                "metric": metric,
                "unit": found[0]["unit"],
                "setting": setting,
                "seeds": sorted(r["params"].get("seed") for r in found),
                "n": len(values),
                "mean": statistics.fmean(values),
                "spread": statistics.stdev(values) if len(values) > 1 else 0.0,
            }
        )
    return rows


def sweep_figure(rows: list[dict[str, Any]], metrics: list[str] | None = None):
    """Mean +/- spread per setting, one panel per metric (the first four unless `metrics` names them)."""
    chosen = metrics or list(dict.fromkeys(r["metric"] for r in rows))[:4]
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(chosen), figsize=(3.4 * len(chosen), 3), dpi=80, squeeze=False)
    for ax, metric in zip(axes[0], chosen, strict=True):
        picked = [r for r in rows if r["metric"] == metric]
        ax.errorbar(
            range(len(picked)),
            [r["mean"] for r in picked],
            yerr=[r["spread"] for r in picked],
            fmt="o",
            capsize=4,
        )
        ax.set_xticks(range(len(picked)), [r["setting"] for r in picked], rotation=20, fontsize=7)
        ax.set_title(metric, fontsize=8)
        ax.set_ylabel(f"{picked[0]['unit']} (mean +/- sd over seeds)", fontsize=7)
    fig.tight_layout()
    return fig
