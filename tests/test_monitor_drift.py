"""labkit.ops.monitor (bounded memory, histogram and reservoir percentiles), labkit.ops.drift (PSI, KS)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from labkit import data
from labkit.ops import drift, monitor


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    bounds, cumulative = [1.0, 2.0, 4.0], [10, 30, 40, 40]
    assert monitor.histogram_quantile(0.5, bounds, cumulative) == pytest.approx(1.5), "rank 20 of 40"
    assert monitor.histogram_quantile(0.25, bounds, cumulative) == pytest.approx(1.0), "rank 10 of 40"
    assert monitor.histogram_quantile(1.0, bounds, cumulative) == pytest.approx(4.0), "rank 40 of 40"
    assert monitor.histogram_quantile(0.99, bounds, [0, 0, 0, 10]) == 4.0, "all in +Inf: the largest bound"


def test_reservoir_keeps_a_bounded_uniform_sample() -> None:
    sample = monitor.Reservoir(size=1000, seed=1)
    for value in range(100_000):
        sample.add(float(value))
    assert len(sample.values) == 1000 and sample.seen == 100_000
    assert 45_000 < sample.percentile(50) < 55_000, f"median {sample.percentile(50)} of 0..99999"


def test_monitor_counts_times_errors_and_serves_prometheus_text() -> None:
    watch = monitor.ModelMonitor("mlp", "3")
    latencies = np.random.default_rng(0).uniform(0.001, 0.009, 2000)
    for i, seconds in enumerate(latencies):
        watch.observe(float(seconds), error="timeout" if i % 100 == 0 else None)
    with pytest.raises(ZeroDivisionError), watch.track():
        1 / 0  # noqa: B018
    stats = watch.stats()
    assert (stats["count"], stats["errors"]) == (2001, 21), stats
    exact = float(np.percentile(latencies, 50)) * 1000
    for source in ("histogram", "reservoir"):
        assert abs(stats[f"p50_ms_{source}"] - exact) < 0.6, (
            f"{source} p50 {stats[f'p50_ms_{source}']} vs {exact}"
        )
    families = {f.name: f for f in text_string_to_metric_families(watch.exposition().decode())}
    requests = families["inference_requests"].samples[0]
    assert requests.labels == {"model": "mlp", "version": "3"} and requests.value == 2001, requests
    assert watch.in_flight.labels(**watch.labels)._value.get() == 0, "in-flight gauge not back to 0"


@pytest.mark.slow
def test_monitor_memory_stays_flat_over_100k_requests() -> None:
    watch = monitor.ModelMonitor("mlp", "1")
    for _ in range(10_000):
        watch.observe(0.002)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(100_000):
        watch.observe(0.002)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64_000, f"memory grew by {grown:,} bytes over 100,000 requests"


def test_psi_is_zero_for_the_same_data_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    assert drift.psi(reference, reference) == pytest.approx(0.0, abs=1e-9)
    assert drift.psi(reference, rng.normal(size=1000)) < 0.05, "same distribution, new sample"
    assert drift.psi(reference, rng.normal(1.0, 1.0, size=1000)) > 0.5, "mean shifted by one sd"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drift_alerts_on_noisy_and_rotated_digits_and_not_on_clean_ones(seed: int) -> None:
    from scipy import ndimage

    digits = data.load_digits28()
    detector = drift.DriftDetector(digits.x_train)
    rng = np.random.default_rng(seed)
    clean = digits.x_test[rng.integers(0, len(digits.x_test), 300)]
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    rotated = ndimage.rotate(clean.reshape(-1, 28, 28), 20, axes=(1, 2), reshape=False, order=1)
    report = {
        name: detector.check(x) for name, x in [("clean", clean), ("noisy", noisy), ("rotated", rotated)]
    }
    assert not report["clean"].alert, f"false alarm: PSI {report['clean'].score:.3f} (threshold 0.25)"
    for name in ("noisy", "rotated"):
        assert report[name].alert, f"missed {name}: PSI {report[name].score:.3f} (threshold 0.25)"
        assert report[name].ks_min_pvalue < 1e-6, f"{name}: KS p-value {report[name].ks_min_pvalue:.2e}"


def test_a_tiny_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="the reference needs at least 100 examples for 10 bins; got 20"):
        drift.DriftDetector(np.zeros((20, 784)))


def test_the_detector_scores_a_window_as_psi_and_the_ks_test_do_feature_by_feature() -> None:
    from scipy import stats

    rng = np.random.default_rng(0)
    reference = rng.normal(size=(400, 20)).astype(np.float32)
    live = rng.normal(0.3, 1.2, size=(150, 20)).astype(np.float32)
    detector = drift.DriftDetector(reference, components=3)
    report = detector.check(live)
    ref, now = detector.reference, detector.features(live)
    expected_psi = [drift.psi(ref[:, j], now[:, j]) for j in range(ref.shape[1])]
    expected_p = [stats.ks_2samp(ref[:, j], now[:, j]).pvalue for j in range(ref.shape[1])]
    np.testing.assert_allclose(report.psi, expected_psi, rtol=1e-12)
    np.testing.assert_allclose(report.ks_pvalue, expected_p, rtol=1e-12)
