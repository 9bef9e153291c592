"""Latency and throughput measurement for every notebook that times anything.

`measure` times one callable (warm-up, percentiles, a confidence interval, samples per second, an optional
device sync, the threads and hardware recorded); `compare` times two interleaved, so both see one machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labkit import verdict
from labkit.verdict import Verdict

Clock = Callable[[], int]


@dataclass(frozen=True)
class Timing:
    """Per-call latency statistics (ms) and throughput (samples/s) of one measured callable."""

    batch_size: int
    iterations: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    ci95_ms: float
    min_ms: float
    max_ms: float
    throughput_sps: float
    threads: int | None
    hardware: str

    def line(self) -> str:
        """One readable line: percentiles, mean with its 95% interval, throughput, threads, hardware."""
        return (
            f"batch {self.batch_size}, {self.iterations} calls: p50 {self.p50_ms:.3f} ms, "
            f"p95 {self.p95_ms:.3f}, p99 {self.p99_ms:.3f}, "
            f"mean {self.mean_ms:.3f} +/- {self.ci95_ms:.3f} ms (95% CI), "
            f"{self.throughput_sps:,.0f} samples/s, {self.threads or '?'} thread(s), {self.hardware}"
        )


@dataclass(frozen=True)
class Comparison:
    """Two callables timed interleaved in one run; `speedup` > 1 means `b` is faster than `a`."""

    a: Timing
    b: Timing
    speedup: float
    throughput_ratio: float
    times_a_ms: tuple[float, ...] = field(default=(), repr=False)
    times_b_ms: tuple[float, ...] = field(default=(), repr=False)

    def verdict(
        self, *, a: str = "a", b: str = "b", statistic: float | str = 50, margin: float = verdict.MARGIN
    ) -> Verdict:
        """b against a per call: "faster", "slower" or "no detectable difference" (within `margin`), from a
        paired bootstrap of the interleaved calls (a call of b is compared with the call of a made just
        before it)."""
        return verdict.ratio(
            self.times_a_ms, self.times_b_ms, labels=(a, b), statistic=statistic, paired=True, margin=margin
        )


def _hardware() -> str:
    from labkit.core import envinfo

    return f"{envinfo.cpu_model()} ({envinfo.usable_cpus()} CPUs)"


def summarize(
    durations_ns: list[int] | np.ndarray,
    batch_size: int,
    threads: int | None = None,
    *,
    hardware: str | None = None,
) -> Timing:
    """Statistics of per-call durations in nanoseconds; throughput counts samples, not calls."""
    durations = np.asarray(durations_ns, dtype=np.float64)
    if durations.size == 0 or batch_size < 1:
        raise ValueError(
            f"need at least one timed call and batch_size >= 1; got {durations.size} calls, "
            f"batch_size={batch_size}."
        )
    if np.any(durations < 0):
        raise ValueError("a duration is negative: the clock must be monotonic (use time.perf_counter_ns).")
    ms = durations / 1e6
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    total_s = durations.sum() / 1e9
    return Timing(
        batch_size=batch_size,
        iterations=int(ms.size),
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        mean_ms=float(ms.mean()),
        std_ms=std,
        ci95_ms=1.96 * std / math.sqrt(ms.size),
        min_ms=float(ms.min()),
        max_ms=float(ms.max()),
        throughput_sps=float(batch_size * ms.size / total_s) if total_s > 0 else math.inf,
        threads=threads,
        hardware=hardware if hardware is not None else _hardware(),
    )


def _check_counts(iterations: int | None, warmup: int, time_budget_s: float | None) -> None:
    if iterations is None and time_budget_s is None:
        raise ValueError("give iterations (a fixed count) or time_budget_s (seconds), or both.")
    if (iterations is not None and iterations < 1) or warmup < 0:
        raise ValueError(f"iterations must be >= 1 and warmup >= 0; got {iterations} and {warmup}.")
    if time_budget_s is not None and time_budget_s <= 0:
        raise ValueError(f"time_budget_s must be positive; got {time_budget_s}.")


def _warm_up(fns: list[Callable[[], Any]], warmup: int, sync: Callable[[], None] | None) -> None:
    """Untimed calls (first-call compilation, caches, thread pools), then wait for the device once."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    if sync is not None and warmup:
        sync()


def _timed_calls(
    fns: list[Callable[[], Any]],
    iterations: int | None,
    time_budget_s: float | None,
    *,
    sync: Callable[[], None] | None,
    clock: Clock,
) -> list[list[int]]:
    """Call each fn in turn (a, b, a, b, ...) until the count or the budget runs out; durations per fn."""
    durations: list[list[int]] = [[] for _ in fns]
    budget_ns = None if time_budget_s is None else int(time_budget_s * 1e9)
    started = clock() if budget_ns is not None else 0
    done = 0
    while True:
        if iterations is not None and done >= iterations:
            break
        if budget_ns is not None and done > 0 and clock() - started >= budget_ns:
            break
        for fn, bucket in zip(fns, durations, strict=True):
            start = clock()
            fn()
            if sync is not None:
                sync()
            bucket.append(clock() - start)
        done += 1
    return durations


def measure(
    fn: Callable[[], Any],
    batch_size: int = 1,
    iterations: int | None = 200,
    *,
    warmup: int = 20,
    threads: int | None = None,
    time_budget_s: float | None = None,
    sync: Callable[[], None] | None = None,
    clock: Clock = time.perf_counter_ns,
) -> Timing:
    """Call `fn` `warmup` times untimed, then time calls one by one until `iterations` or the budget.

    `sync` (e.g. `torch.cuda.synchronize`) runs inside each timed call, so asynchronous device work is
    counted. With both `iterations` and `time_budget_s`, whichever ends first stops the run.
    """
    _check_counts(iterations, warmup, time_budget_s)
    _warm_up([fn], warmup, sync)
    (durations,) = _timed_calls([fn], iterations, time_budget_s, sync=sync, clock=clock)
    return summarize(durations, batch_size, threads)


def compare(
    a: Callable[[], Any],
    b: Callable[[], Any],
    batch_size: int = 1,
    *,
    iterations: int | None = 200,
    warmup: int = 20,
    threads: int | None = None,
    time_budget_s: float | None = None,
    sync: Callable[[], None] | None = None,
    clock: Clock = time.perf_counter_ns,
    batch_size_b: int | None = None,
) -> Comparison:
    """Time `a` and `b` interleaved (a, b, a, b, ...) so drift in machine load hits both alike.

    `speedup` is a's p50 / b's p50; `throughput_ratio` is b's samples/s over a's (they differ when the
    two process different batch sizes: give `batch_size_b`).
    """
    _check_counts(iterations, warmup, time_budget_s)
    _warm_up([a, b], warmup, sync)
    times_a, times_b = _timed_calls([a, b], iterations, time_budget_s, sync=sync, clock=clock)
    timing_a = summarize(times_a, batch_size, threads)
    timing_b = summarize(times_b, batch_size_b or batch_size, threads)
    return Comparison(
        a=timing_a,
        b=timing_b,
        speedup=timing_a.p50_ms / timing_b.p50_ms,
        throughput_ratio=timing_b.throughput_sps / timing_a.throughput_sps,
        times_a_ms=tuple(t / 1e6 for t in times_a),
        times_b_ms=tuple(t / 1e6 for t in times_b),
    )


@dataclass(frozen=True)
class Race:
    """Several callables timed round-robin in one run, so machine load hits all of them alike."""

    timings: dict[str, Timing]
    times_ms: dict[str, tuple[float, ...]] = field(repr=False)

    def verdict(
        self, a: str, b: str, *, statistic: float | str = 50, margin: float = verdict.MARGIN
    ) -> Verdict:
        """b against a per call, paired over the rounds (each round times every callable once)."""
        return verdict.ratio(
            self.times_ms[a], self.times_ms[b], labels=(a, b), statistic=statistic, paired=True, margin=margin
        )


def race(
    fns: Mapping[str, Callable[[], Any]],
    batch_size: int = 1,
    *,
    iterations: int | None = 200,
    warmup: int = 20,
    threads: int | None = None,
    time_budget_s: float | None = None,
    block: int = 1,
    clock: Clock = time.perf_counter_ns,
) -> Race:
    """Time every callable in turn, round after round: `compare` for more than two.

    With `block` > 1 a round calls each callable `block` times in a row (timed) after one untimed call:
    alternating call by call makes each model evict the others' weights from the CPU caches, a cost a
    server running one model does not pay. `iterations` counts timed calls per callable.
    """
    if len(fns) < 2:
        raise ValueError(f"a race needs at least two callables; got {len(fns)}.")
    if block < 1:
        raise ValueError(f"block must be >= 1; got {block}.")
    _check_counts(iterations, warmup, time_budget_s)
    _warm_up(list(fns.values()), warmup, None)
    durations: dict[str, list[int]] = {name: [] for name in fns}
    budget_ns = None if time_budget_s is None else int(time_budget_s * 1e9)
    started, rounds = clock(), 0
    while (iterations is None or rounds * block < iterations) and (
        budget_ns is None or rounds == 0 or clock() - started < budget_ns
    ):
        for name, fn in fns.items():
            if block > 1:
                fn()
            for _ in range(block):
                start = clock()
                fn()
                durations[name].append(clock() - start)
        rounds += 1
    return Race(
        timings={name: summarize(d, batch_size, threads) for name, d in durations.items()},
        times_ms={name: tuple(t / 1e6 for t in d) for name, d in durations.items()},
    )


def cuda_sync(device: str) -> Callable[[], None] | None:
    """`torch.cuda.synchronize` when timing on a CUDA device, else None (nothing to wait for)."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    return torch.cuda.synchronize
