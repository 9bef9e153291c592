"""The setup every notebook runs after its parameters cell: validate, seed, label the ledger."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from labkit import exercise, ledger
from labkit.core import envinfo, seeding
from labkit.workbook import catalog, params

_started: set[str] = set()


def start(notebook: str, namespace: Mapping[str, Any]) -> params.Params:
    """Validate the parameters, fix seeds, set the ledger context and print the run and environment line.

    `reveal_solutions` is also switched on by LABKIT_REVEAL_SOLUTIONS=1, which nbval and `labkit refresh`
    set, since they execute the notebooks as committed, without injected parameters.

    The first call in a kernel rejects unknown names (a mistyped papermill parameter); a re-run in the
    same kernel, whose namespace now holds the lesson's variables, checks the declared parameters only.
    """
    values = params.validate(
        catalog.params_of(notebook), namespace, notebook=notebook, reject_unknown=notebook not in _started
    )
    _started.add(notebook)
    values["reveal_solutions"] = exercise.revealed(values.reveal_solutions)
    seeding.seed_everything(values.seed)
    ledger.set_context(notebook=notebook, profile=values.profile, device=values.device, params=dict(values))
    _plot_defaults()
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
    print(f"{notebook}: {shown}")
    print(f"run {ledger.current_run_id()} | {envinfo.short_line()}")
    if values.reveal_solutions:
        print(
            "Exercises: the reference solutions are applied in this run (a headless run: labkit run, CI or "
            "the committed outputs). Working through them yourself, keep reveal_solutions = False."
        )
    return values


def _plot_defaults() -> None:
    """Modest figure sizes and DPI so committed outputs stay small."""
    import matplotlib

    matplotlib.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "figure.figsize": (7, 3.2)})


def torch_device(requested: str) -> str:
    """Map the notebook's device parameter (auto, cpu, gpu or its alias cuda) to 'cuda' or 'cpu'."""
    import torch

    if requested == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if requested in ("gpu", "cuda"):
        raise ValueError(
            f"parameter 'device' is {requested!r} but torch sees no CUDA device; use 'auto' or 'cpu'."
        )
    return "cpu"


def headless() -> bool:
    """True under `labkit run`, `make test` (nbval) or LABKIT_HEADLESS=1: no one watches live widgets."""
    return os.environ.get("LABKIT_HEADLESS") == "1"


def release_memory() -> float:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so a notebook that trains and
    then starts a server stays within a small machine's memory; returns this process's RSS in MiB."""
    import ctypes
    import gc

    import psutil

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): collection alone
        pass
    return psutil.Process().memory_info().rss / 2**20
