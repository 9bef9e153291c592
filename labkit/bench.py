"""Latency and throughput measurement shared by every notebook that times anything.

`time.perf_counter_ns`, warm-up calls that are not counted, a fixed number of timed calls, percentiles
rather than a mean alone, throughput in samples per second (batch size aware), and the thread count
recorded with the numbers. Notebook 06 teaches it against the seed's `benchmark_model`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Per-call latency percentiles (ms) and throughput (samples/s) of one measured callable."""

    batch_size: int
    iterations: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    throughput_sps: float
    threads: int | None


def summarize(durations_ns: list[int] | np.ndarray, batch_size: int, threads: int | None = None) -> Timing:
    """Statistics of per-call durations in nanoseconds; throughput counts samples, not calls."""
    durations = np.asarray(durations_ns, dtype=np.float64)
    if durations.size == 0 or batch_size < 1:
        raise ValueError(
            f"need at least one timed call and batch_size >= 1; got {durations.size} calls, "
            f"batch_size={batch_size}."
        )
    ms = durations / 1e6
    return Timing(
        batch_size=batch_size,
        iterations=int(durations.size),
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        mean_ms=float(ms.mean()),
        throughput_sps=float(batch_size * durations.size / (durations.sum() / 1e9)),
        threads=threads,
    )


def measure(
    fn: Callable[[], Any],
    batch_size: int = 1,
    iterations: int = 200,
    warmup: int = 20,
    threads: int | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> Timing:
    """Call `fn` `warmup` times untimed, then `iterations` times timed one by one."""
    if iterations < 1 or warmup < 0:
        raise ValueError(f"iterations must be >= 1 and warmup >= 0; got {iterations} and {warmup}.")
    for _ in range(warmup):
        fn()
    durations = []
    for _ in range(iterations):
        start = clock()
        fn()
        durations.append(clock() - start)
    return summarize(durations, batch_size, threads)
