"""A model monitor on prometheus_client (notebook 11): counters, a latency histogram, in-flight gauge.

Memory is bounded by the histogram's buckets and a fixed-size reservoir of raw latencies, so percentiles
from both (`histogram_quantile` and the reservoir) can be compared however many requests pass.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    1.0,
)


class Reservoir:
    """A uniform sample of at most `size` values from a stream of any length (algorithm R)."""

    def __init__(self, size: int = 2048, seed: int = 0) -> None:
        if size < 1:
            raise ValueError(f"reservoir size must be at least 1; got {size}.")
        self.size, self.seen = size, 0
        self.values: list[float] = []
        self._random = random.Random(seed)

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
            return
        slot = self._random.randrange(self.seen)
        if slot < self.size:
            self.values[slot] = value

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.values, q)) if self.values else float("nan")


def histogram_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float:
    """The q-quantile (0-1) from cumulative bucket counts, linear within the bucket (PromQL's method).

    `bounds` are the finite upper bounds; `cumulative` has one more entry, the +Inf bucket (the total).
    A quantile in the +Inf bucket is reported as the largest finite bound.
    """
    total = cumulative[-1]
    if total == 0:
        return float("nan")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=False):
        if count >= rank:
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return float(bounds[-1])


class ModelMonitor:
    """Request, error, latency and in-flight metrics for one model version, in its own registry."""

    def __init__(
        self,
        model: str,
        version: str,
        buckets: Sequence[float] = LATENCY_BUCKETS_S,
        *,
        reservoir_size: int = 2048,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.labels = {"model": model, "version": version}
        self.buckets = tuple(buckets)
        names = ("model", "version")
        self.requests = Counter("inference_requests", "Requests answered", names, registry=self.registry)
        self.errors = Counter(
            "inference_errors", "Requests that failed", (*names, "kind"), registry=self.registry
        )
        self.latency = Histogram(
            "inference_latency_seconds", "Time to answer", names, buckets=self.buckets, registry=self.registry
        )
        self.in_flight = Gauge("inference_in_flight", "Requests being served", names, registry=self.registry)
        self.reservoir = Reservoir(reservoir_size)
        for metric in (self.requests, self.latency, self.in_flight):
            metric.labels(**self.labels)  # every series exists (at 0) from the start, as Prometheus advises

    def observe(self, seconds: float, error: str | None = None) -> None:
        """Record one answered request: its latency (errors too: a failure takes time) and its outcome."""
        self.requests.labels(**self.labels).inc()
        self.latency.labels(**self.labels).observe(seconds)
        self.reservoir.add(seconds)
        if error is not None:
            self.errors.labels(**self.labels, kind=error).inc()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Time the block as one request; an exception counts as an error of its type and is re-raised."""
        gauge = self.in_flight.labels(**self.labels)
        gauge.inc()
        start = time.perf_counter()
        try:
            yield
        except Exception as error:
            self.observe(time.perf_counter() - start, type(error).__name__)
            raise
        else:
            self.observe(time.perf_counter() - start)
        finally:
            gauge.dec()

    def _value(self, name: str, **labels: str) -> float:
        return float(self.registry.get_sample_value(name, {**self.labels, **labels}) or 0.0)

    @property
    def count(self) -> int:
        return int(self._value("inference_requests_total"))

    @property
    def error_count(self) -> int:
        return int(
            sum(
                sample.value
                for metric in self.errors.collect()
                for sample in metric.samples
                if sample.name == "inference_errors_total"
            )
        )

    def histogram_percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of latency in seconds, from the histogram's buckets."""
        cumulative = [
            self._value("inference_latency_seconds_bucket", le=floatToGoString(b)) for b in self.buckets
        ]
        cumulative.append(self._value("inference_latency_seconds_bucket", le="+Inf"))
        return histogram_quantile(q / 100, self.buckets, cumulative)

    def stats(self) -> dict[str, float]:
        """Count, errors, mean and p50/p95/p99 (histogram and reservoir), in milliseconds."""
        total = self._value("inference_latency_seconds_sum")
        result = {
            "count": self.count,
            "errors": self.error_count,
            "mean_ms": 1000 * total / max(self.count, 1),
        }
        for q in (50, 95, 99):
            result[f"p{q}_ms_histogram"] = 1000 * self.histogram_percentile(q)
            result[f"p{q}_ms_reservoir"] = 1000 * self.reservoir.percentile(q)
        return result

    def exposition(self) -> bytes:
        """The Prometheus text format of this monitor's registry (what `/metrics` serves)."""
        return generate_latest(self.registry)
