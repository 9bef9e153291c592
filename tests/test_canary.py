"""labkit.ops.canary: routing share, each guard's verdict (accuracy, errors, latency) with its figures."""

from __future__ import annotations

import time

import numpy as np
import pytest

from labkit.ops import canary


def answer(label_shift: int = 0, delay_s: float = 0.0, fail: bool = False):
    def call(x: np.ndarray) -> np.ndarray:
        if fail:
            raise ConnectionError("challenger down")
        time.sleep(delay_s)
        out = np.zeros((1, 10), np.float32)
        out[0, (int(x[0, 0]) + label_shift) % 10] = 1
        return out

    return call


def replay(split: canary.Canary, n: int = 400) -> None:
    for i in range(n):
        split.send(np.full((1, 784), i % 10, np.float32), i % 10)


@pytest.mark.parametrize(
    ("challenger", "decision", "reason"),
    [
        (answer(), "promote", "no guard tripped"),
        (answer(label_shift=1), "rollback", "accuracy 0.000 vs 1.000"),
        (answer(fail=True), "rollback", "error rate 1.000 vs 0.000"),
        (answer(delay_s=0.004), "rollback", "p95"),
    ],
    ids=["same", "wrong-labels", "failing", "slow"],
)
def test_verdicts(challenger: canary.Call, decision: str, reason: str) -> None:
    split = canary.Canary(answer(), challenger, 0.25, seed=0)
    replay(split)
    verdict = split.verdict(min_requests=50, max_latency_ratio=3.0)
    assert verdict.decision == decision and reason in "; ".join(verdict.reasons), (verdict, verdict.figures)


def test_routing_share_and_waiting_for_enough_traffic() -> None:
    split = canary.Canary(answer(), answer(), 0.2, seed=3)
    replay(split, 100)
    routed = split.arms["challenger"].monitor.count
    assert 10 <= routed <= 30, f"{routed} of 100 requests went to a 20% challenger"
    assert split.verdict(min_requests=routed + 1).decision == "wait"
    with pytest.raises(ValueError, match="between 0 and 1"):
        canary.Canary(answer(), answer(), 1.0)


def test_a_latency_gap_below_the_floor_is_not_a_rollback() -> None:
    split = canary.Canary(answer(), answer(), 0.5, seed=0)
    for arm, seconds in (("champion", 0.0001), ("challenger", 0.0006)):  # recorded, not timed: no flakiness
        for _ in range(100):
            split.arms[arm].monitor.observe(seconds)
        split.arms[arm].labelled = split.arms[arm].correct = 100
    # 0.5 ms more per call: 6x a fast champion's p95, but under the 1 ms floor
    assert split.verdict(min_requests=50, max_latency_ratio=3.0).decision == "promote"
    decided = split.verdict(min_requests=50, max_latency_ratio=3.0, min_latency_gap_ms=0.1)
    assert decided.decision == "rollback" and "p95" in decided.reasons[0], decided
