"""PyTorch compression helpers for notebook 05: gradual global pruning, sizes, operator profiles, and a quiet
torchao import.

Pruning uses `torch.nn.utils.prune` (global L1 over every Linear and Conv2d weight) on the schedule tfmot
uses in notebook 02 (polynomial, power 3), so the Keras and PyTorch results compare.
"""

from __future__ import annotations

import contextlib
import logging
import math
import operator
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from labkit.data import Splits
from labkit.models import torch_models


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The (module, "weight") pairs pruning acts on: every Linear and Conv2d weight, biases excluded."""
    return [(m, "weight") for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def weights(model: nn.Module) -> list[np.ndarray]:
    """The prunable weights as NumPy arrays (the masked values while pruning is attached)."""
    return [getattr(m, name).detach().cpu().numpy() for m, name in prunable(model)]


def polynomial_sparsity(step: int, *, target_sparsity: float, end_step: int, power: int = 3) -> float:
    """tfmot's PolynomialDecay from 0: fast at first, flat as it reaches `target_sparsity` at `end_step`."""
    if end_step < 1 or not 0.0 <= target_sparsity < 1.0:
        raise ValueError(
            "need end_step >= 1 and 0 <= target_sparsity < 1; "
            f"got end_step={end_step}, target_sparsity={target_sparsity}."
        )
    done = min(step, end_step) / end_step
    return target_sparsity * (1.0 - (1.0 - done) ** power)


def pruned_count(model: nn.Module) -> int:
    """Weights currently masked out by attached pruning (0 before the first pruning call)."""
    return sum(
        int((getattr(m, name + "_mask") == 0).sum()) for m, name in prunable(model) if prune.is_pruned(m)
    )


def prune_to(model: nn.Module, sparsity: float) -> int:
    """Mask the globally smallest |weights| until `sparsity` of all prunable weights are masked.

    Uses `prune.global_unstructured` with an absolute count, which PyTorch applies to the weights not yet
    masked, so repeated calls on a schedule only ever add zeros. Returns the number newly masked.
    """
    total = sum(getattr(m, name).numel() for m, name in prunable(model))
    extra = max(0, round(sparsity * total) - pruned_count(model))
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=extra)
    return extra


def make_permanent(model: nn.Module) -> nn.Module:
    """`prune.remove` on every pruned weight: zeros baked in, `weight_orig` and `weight_mask` dropped."""
    for module, name in prunable(model):
        if prune.is_pruned(module):
            prune.remove(module, name)
    return model


def prune_gradually(
    model: nn.Module,
    data: Splits,
    *,
    arch: str,
    target_sparsity: float,
    epochs: int,
    ramp_fraction: float = 0.5,
    learning_rate: float = 1e-3,
    pruning_frequency: int = 10,
    batch_size: int = 32,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
) -> dict[str, list[float]]:
    """Fine-tune `model` in place while its global sparsity ramps to `target_sparsity`; masks stay attached.

    The ramp ends after `ramp_fraction` of the steps trained (not a fixed end_step: notebook 02's lesson);
    the mask is updated every `pruning_frequency` steps and at the end of the ramp, then training continues
    at the target. Call `make_permanent` afterwards. `threads` is passed to `torch_models.train`.
    """
    steps = epochs * math.ceil(len(data.y_train) / batch_size)
    end_step = max(1, round(ramp_fraction * steps))

    def update(step: int) -> None:
        if step <= end_step and (step % pruning_frequency == 0 or step == end_step):
            prune_to(model, polynomial_sparsity(step, target_sparsity=target_sparsity, end_step=end_step))

    history = torch_models.train(
        model,
        data,
        arch=arch,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        device=device,
        before_step=update,
        threads=threads,
    )
    prune_to(model, target_sparsity)
    return history


def graph_constant_bytes(graph_module: torch.fx.GraphModule) -> int:
    """Bytes of the tensors a graph actually reads (its `get_attr` nodes), each counted once.

    A PT2E-converted module still holds the float weights it no longer uses, so its state dict
    overstates the int8 model; this counts what the converted graph needs.
    """
    used = {node.target for node in graph_module.graph.nodes if node.op == "get_attr"}
    tensors = [operator.attrgetter(name)(graph_module) for name in sorted(used)]
    return sum(t.nbytes for t in tensors if isinstance(t, torch.Tensor))


@dataclass(frozen=True)
class OperatorTime:
    """One operator in a profiled run: calls, own CPU time, and CPU time with its children (us)."""

    count: int
    self_us: float
    total_us: float


@contextlib.contextmanager
def _quiet_stderr_fd() -> Iterator[None]:
    """Silence file descriptor 2 (C++ writes there directly: Kineto's profiler_start/stop lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profile_operators(fn: Callable[[], Any], calls: int, *, warmup: int = 3) -> dict[str, OperatorTime]:
    """Run `fn` `warmup` times, then `calls` times under the CPU profiler; every operator's time, by name.

    Sum `self_us` over all operators for the time spent in operators; an operator's `total_us` includes the
    operators it calls (torchao's `quantize_affine` includes its round and clamp). Python time between
    operators is not counted. The profiler's start/stop lines on stderr are silenced.
    """
    if calls < 1 or warmup < 0:
        raise ValueError(f"calls must be >= 1 and warmup >= 0; got {calls} and {warmup}.")
    for _ in range(warmup):
        fn()
    with _quiet_stderr_fd():
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                fn()
    return {
        e.key: OperatorTime(int(e.count), float(e.self_cpu_time_total), float(e.cpu_time_total))
        for e in prof.key_averages()
    }


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def import_torchao() -> ModuleType:
    """Import torchao without its start-up noise on a CPU-only torch.

    The CPU wheel cannot load torchao's CUDA kernels (mxfp8, cutlass): it logs a warning per file, and
    torch logs a deprecation for an Enum torchao registers. Neither affects the CPU APIs taught here.
    """
    with _quiet_loggers("torchao", "torch.utils._pytree"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torchao
        import torchao.quantization  # noqa: F401  (the module notebook 05 uses)
    return torchao


def pt2e_int8(model: nn.Module, example: torch.Tensor, calibration: torch.Tensor) -> torch.fx.GraphModule:
    """Static int8 with PT2E as notebook 05 teaches it: export with a dynamic batch, X86InductorQuantizer,
    calibrate on real inputs, convert. Compile the result (`torch.compile`) to get x86's int8 kernels."""
    import_torchao()
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    batch = torch.export.Dim("batch")
    graph = torch.export.export(model.eval(), (example,), dynamic_shapes=({0: batch},)).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for chunk in calibration.split(32):
            prepared(chunk)
    converted = convert_pt2e(prepared)
    allow_exported_model_train_eval(converted)  # exported graphs refuse .eval() unless told how to switch
    return converted
