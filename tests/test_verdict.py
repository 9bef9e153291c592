"""Verdicts follow from the interval: a real difference is found, equal samples are not told apart."""

from __future__ import annotations

import numpy as np
import pytest

from labkit import bench, verdict


def test_ratio_finds_a_twofold_difference_and_names_it() -> None:
    rng = np.random.default_rng(0)
    slow, fast = rng.normal(10, 1, 300), rng.normal(5, 0.5, 300)
    v = verdict.ratio(slow, fast, labels=("float32", "int8"))
    assert v.word == "faster" and 1.9 < v.low < v.estimate < v.high < 2.1, v
    assert v.sentence().startswith("int8 is faster than float32: 1.9"), v.sentence()
    assert verdict.ratio(fast, slow).word == "slower"


def test_ratio_of_two_samples_of_one_distribution_is_no_detectable_difference() -> None:
    rng = np.random.default_rng(1)
    found = [verdict.ratio(rng.normal(10, 1, 200), rng.normal(10, 1, 200), seed=s).word for s in range(20)]
    assert found.count(verdict.SAME) >= 17, found  # a 95% interval: about 1 in 20 may decide by chance


def test_paired_ratio_removes_shared_drift_that_unpaired_cannot() -> None:
    rng = np.random.default_rng(2)
    drift = np.linspace(0, 20, 200)  # the machine slows down during the run, for both
    a, b = 10 + drift + rng.normal(0, 0.1, 200), 9.5 + drift + rng.normal(0, 0.1, 200)
    assert verdict.ratio(a, b, paired=True, statistic="mean").word == "faster"
    assert verdict.ratio(a, b, paired=False, statistic="mean").word == verdict.SAME


def test_difference_over_three_seeds_respects_the_spread() -> None:
    noisy = verdict.difference(
        [96.0, 96.5, 97.0], [96.56, 97.34, 97.0], labels=("scratch", "distilled"), unit="points"
    )
    assert noisy.word == verdict.SAME and noisy.low < 0 < noisy.high, noisy
    clear = verdict.difference([90, 91, 90.5], [95, 96, 95.4], words=("beats", "trails"), unit="points")
    assert clear.word == "beats" and clear.sentence().startswith("b beats a: +4.97 points"), clear.sentence()


def test_bad_samples_are_one_clear_error() -> None:
    with pytest.raises(ValueError, match="at least 2 values on each side; got 1 and 3"):
        verdict.ratio([1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="same length; got 2 and 3"):
        verdict.difference([1, 2], [1, 2, 3], paired=True)


def test_bench_compare_keeps_the_calls_for_a_paired_verdict() -> None:
    ticks = iter(range(0, 10**9, 1000))
    cmp = bench.compare(lambda: None, lambda: None, iterations=20, warmup=0, clock=lambda: next(ticks))
    assert len(cmp.times_a_ms) == len(cmp.times_b_ms) == 20
    assert cmp.verdict(a="x", b="y").word == verdict.SAME


def test_a_decided_interval_never_prints_as_touching_no_change() -> None:
    v = verdict.Verdict("faster", 1.004, 1.002, 1.006, "a", "b", "ratio", "x", 0.95, 300)
    assert v.sentence() == "b is faster than a: 1.004x (95% CI 1.002-1.006x, n=300).", v.sentence()


def test_slower_reads_as_how_many_times_longer_and_a_margin_absorbs_trivial_gaps() -> None:
    rng = np.random.default_rng(3)
    steady, start_up = rng.normal(10, 0.5, 300), rng.normal(22.5, 1, 300)
    v = verdict.ratio(steady, start_up, labels=("steady", "start-up"))
    assert v.word == "slower" and v.sentence().startswith("start-up is slower than steady: 2.2"), v.sentence()
    near = verdict.ratio(steady, steady * 0.993, paired=True)
    assert near.word == verdict.SAME, near.sentence()
    assert "(a change must clear +/-2% to count)" in near.sentence(), near.sentence()
    strict = verdict.ratio(steady, steady * 0.993, paired=True, margin=0.0)
    assert strict.word == "faster", strict.sentence()


def test_interleaved_comparisons_use_the_margin_and_print_to_chosen_decimals() -> None:
    rng = np.random.default_rng(4)
    first = rng.normal(10, 0.2, 2000)
    timing = bench.summarize((first * 1e6).astype(int), batch_size=1)
    pair = bench.Comparison(timing, timing, 1.0, 1.0, tuple(first), tuple(first * 1.004))
    v = pair.verdict(a="first", b="second")
    assert v.word == verdict.SAME and v.margin == verdict.MARGIN == 0.02, v
    assert v.sentence(digits=3).startswith(
        "second vs first: no detectable difference (a change must clear +/-2% to count), 0.996x"
    ), v.sentence(digits=3)
