"""Canary rollout (notebook 12): route a seeded share of traffic to a challenger, compare, decide.

Both arms are monitored alike; `verdict` waits for enough challenger requests, then rolls back when any
guard (accuracy drop, error rate, p95 latency ratio) says worse and promotes otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from labkit.ops.monitor import ModelMonitor

Call = Callable[[np.ndarray], np.ndarray]


@dataclass
class Arm:
    """One side of the canary: how to call it, its monitor, and how often it was right."""

    name: str
    call: Call
    monitor: ModelMonitor
    correct: int = 0
    labelled: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.labelled if self.labelled else float("nan")

    @property
    def error_rate(self) -> float:
        return self.monitor.error_count / self.monitor.count if self.monitor.count else 0.0


@dataclass(frozen=True)
class Verdict:
    """`wait`, `promote` or `rollback`, with the reasons and the figures compared."""

    decision: str
    reasons: list[str]
    figures: dict[str, float] = field(default_factory=dict)


class Canary:
    """Splits traffic between a champion and a challenger and judges the challenger."""

    def __init__(
        self, champion: Call, challenger: Call, fraction: float, *, seed: int = 0, model: str = "model"
    ):
        if not 0 < fraction < 1:
            raise ValueError(f"the canary fraction must be between 0 and 1 (exclusive); got {fraction}.")
        self.fraction = fraction
        self.rng = np.random.default_rng(seed)
        self.arms = {
            "champion": Arm("champion", champion, ModelMonitor(model, "champion")),
            "challenger": Arm("challenger", challenger, ModelMonitor(model, "challenger")),
        }

    def send(self, x: np.ndarray, label: int | None = None) -> np.ndarray | None:
        """Route one request; record latency, error and correctness; None when the call failed."""
        arm = self.arms["challenger" if self.rng.random() < self.fraction else "champion"]
        start = time.perf_counter()
        try:
            out = arm.call(x)
        except Exception as error:  # a failed call is an error of that arm, not of the rollout
            arm.monitor.observe(time.perf_counter() - start, type(error).__name__)
            return None
        arm.monitor.observe(time.perf_counter() - start)
        if label is not None:
            arm.labelled += 1
            arm.correct += int(np.argmax(out[0]) == label)
        return out

    def verdict(
        self,
        min_requests: int = 50,
        max_accuracy_drop: float = 0.05,
        max_error_rate_increase: float = 0.01,
        *,
        max_latency_ratio: float = 2.0,
        min_latency_gap_ms: float = 1.0,
    ) -> Verdict:
        """Roll back if the challenger is worse on any guard, promote if not; wait for enough traffic.

        The latency guard trips when the challenger's p95 is over `max_latency_ratio` times the champion's
        and at least `min_latency_gap_ms` above it: between calls of a few microseconds a scheduler hiccup
        alone can double a p95, which is no reason to roll back.
        """
        champion, challenger = self.arms["champion"], self.arms["challenger"]
        figures = {
            "challenger_requests": challenger.monitor.count,
            "champion_accuracy": champion.accuracy,
            "challenger_accuracy": challenger.accuracy,
            "champion_error_rate": champion.error_rate,
            "challenger_error_rate": challenger.error_rate,
            "champion_p95_ms": champion.monitor.reservoir.percentile(95) * 1000,
            "challenger_p95_ms": challenger.monitor.reservoir.percentile(95) * 1000,
        }
        if challenger.monitor.count < min_requests:
            return Verdict(
                "wait", [f"{challenger.monitor.count} of {min_requests} challenger requests"], figures
            )
        reasons = []
        if champion.accuracy - challenger.accuracy > max_accuracy_drop:
            reasons.append(f"accuracy {challenger.accuracy:.3f} vs {champion.accuracy:.3f}")
        if challenger.error_rate - champion.error_rate > max_error_rate_increase:
            reasons.append(f"error rate {challenger.error_rate:.3f} vs {champion.error_rate:.3f}")
        slower = figures["challenger_p95_ms"] > max_latency_ratio * figures["champion_p95_ms"]
        if slower and figures["challenger_p95_ms"] - figures["champion_p95_ms"] >= min_latency_gap_ms:
            reasons.append(f"p95 {figures['challenger_p95_ms']:.1f} vs {figures['champion_p95_ms']:.1f} ms")
        if reasons:
            return Verdict("rollback", reasons, figures)
        return Verdict("promote", ["no guard tripped"], figures)
