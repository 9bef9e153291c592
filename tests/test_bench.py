"""labkit.bench: statistics checked with a fake clock, so the numbers are known exactly."""

from __future__ import annotations

import pytest

from labkit import bench


def fake_clock(durations_ns: list[int]):
    """A clock whose successive start/stop pairs are `durations_ns` apart."""
    ticks, now = [], 0
    for d in durations_ns:
        ticks += [now, now + d]
        now += d + 1_000
    it = iter(ticks)
    return lambda: next(it)


def test_percentiles_and_throughput_by_hand() -> None:
    calls = []
    durations = [1_000_000] * 98 + [5_000_000, 9_000_000]  # 98 calls of 1 ms, then 5 ms and 9 ms
    timing = bench.measure(
        lambda: calls.append(1),
        batch_size=4,
        iterations=100,
        warmup=3,
        clock=fake_clock(durations),
        threads=2,
    )
    assert len(calls) == 103, f"{len(calls)} calls, expected 3 warm-up + 100 timed"
    assert timing.p50_ms == 1.0, timing
    assert timing.mean_ms == pytest.approx((98 + 5 + 9) / 100), timing
    assert timing.p99_ms == pytest.approx(5 + 0.01 * 4), timing  # linear interpolation 5 ms -> 9 ms
    assert timing.throughput_sps == pytest.approx(4 * 100 / 0.112), timing
    assert timing.threads == 2 and timing.iterations == 100 and timing.batch_size == 4


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="iterations must be >= 1 and warmup >= 0; got 0 and 1"):
        bench.measure(lambda: None, iterations=0, warmup=1)
    with pytest.raises(ValueError, match="batch_size=0"):
        bench.summarize([10], batch_size=0)
