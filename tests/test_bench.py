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


def stepping_clock(step_ns: int):
    """A clock that advances `step_ns` on every reading: each timed call lasts exactly one step."""
    state = {"now": 0}

    def read() -> int:
        state["now"] += step_ns
        return state["now"]

    return read


def test_confidence_interval_min_max_and_hardware() -> None:
    durations = [1_000_000, 3_000_000] * 50
    timing = bench.summarize(durations, batch_size=1, threads=1, hardware="test CPU")
    assert timing.std_ms == pytest.approx(1.00503781, rel=1e-6), timing  # sample std of 1s and 3s
    assert timing.ci95_ms == pytest.approx(1.96 * timing.std_ms / 10), timing
    assert (timing.min_ms, timing.max_ms, timing.hardware) == (1.0, 3.0, "test CPU"), timing
    assert "p50 2.000 ms" in timing.line() and "test CPU" in timing.line(), timing.line()


def test_time_budget_stops_the_run() -> None:
    timing = bench.measure(
        lambda: None, iterations=None, warmup=0, time_budget_s=0.010, clock=stepping_clock(10**6)
    )
    # readings: start of budget at 1 ms; each call reads twice and the budget check once (3 ms per call)
    assert timing.iterations == 4 and timing.p50_ms == 1.0, timing
    capped = bench.measure(
        lambda: None, iterations=2, warmup=0, time_budget_s=10.0, clock=stepping_clock(10**6)
    )
    assert capped.iterations == 2, f"the count ends the run first: {capped.iterations} calls"
    with pytest.raises(ValueError, match="give iterations"):
        bench.measure(lambda: None, iterations=None, time_budget_s=None)


def test_compare_interleaves_and_reports_the_ratio() -> None:
    order: list[str] = []
    durations = [2_000_000, 1_000_000] * 10  # a takes 2 ms, b 1 ms
    result = bench.compare(
        lambda: order.append("a"),
        lambda: order.append("b"),
        iterations=10,
        warmup=1,
        clock=fake_clock(durations),
        batch_size=1,
        batch_size_b=4,
    )
    assert "".join(order) == "ab" * 11, "".join(order)
    assert result.a.p50_ms == 2.0 and result.b.p50_ms == 1.0, (result.a, result.b)
    assert result.speedup == pytest.approx(2.0), result.speedup
    assert result.throughput_ratio == pytest.approx(8.0), "b does 4 samples per call in half the time"


def test_sync_runs_inside_every_timed_call() -> None:
    synced = []
    bench.measure(
        lambda: None, iterations=5, warmup=2, sync=lambda: synced.append(1), clock=fake_clock([10] * 5)
    )
    assert len(synced) == 6, f"{len(synced)} syncs: 5 timed calls + 1 after warm-up"
    assert bench.cuda_sync("cpu") is None


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="monotonic"):
        bench.summarize([5, -1], batch_size=1)
