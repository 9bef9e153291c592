"""Data drift (notebook 11): live inputs compared with the training set, feature by feature.

Inputs are summarised by their leading principal-component projections plus mean and spread; each feature
is compared by the population stability index and the two-sample KS test; the largest PSI raises the alert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.decomposition import PCA


def _bin_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """The reference's inner quantile edges (deciles for 10 bins), duplicates merged."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def _shares(edges: np.ndarray, values: np.ndarray, floor: float) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return np.maximum(counts / counts.sum(), floor)


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi(reference: np.ndarray, live: np.ndarray, bins: int = 10, *, floor: float = 1e-4) -> float:
    """Population stability index of one feature: sum((live% - ref%) * ln(live% / ref%)) over the
    reference's quantile bins (shares floored at `floor` so an empty bin is not infinite)."""
    edges = _bin_edges(reference, bins)
    return _psi(_shares(edges, reference, floor), _shares(edges, live, floor))


@dataclass(frozen=True)
class DriftReport:
    """One window's drift figures: PSI and KS p-value per feature, and whether the alert fires."""

    psi: np.ndarray
    ks_pvalue: np.ndarray
    threshold: float

    @property
    def score(self) -> float:
        """The largest PSI over the features (what the alert compares with the threshold)."""
        return float(self.psi.max())

    @property
    def alert(self) -> bool:
        return self.score > self.threshold

    @property
    def ks_min_pvalue(self) -> float:
        return float(self.ks_pvalue.min())


class DriftDetector:
    """Fitted on training inputs; scores windows of live inputs against them."""

    def __init__(
        self, reference: np.ndarray, components: int = 8, threshold: float = 0.25, *, bins: int = 10
    ) -> None:
        if len(reference) < 10 * bins:
            raise ValueError(
                f"the reference needs at least {10 * bins} examples for {bins} bins; got {len(reference)}."
            )
        flat = reference.reshape(len(reference), -1)
        self.pca = PCA(components, random_state=0).fit(flat)
        self.names = [f"pc{i + 1}" for i in range(components)] + ["mean", "std"]
        self.reference = self.features(flat)
        self.threshold, self.bins = threshold, bins
        # each feature's bin edges and reference shares, computed once rather than per window
        self._edges = [_bin_edges(column, bins) for column in self.reference.T]
        self._expected = [_shares(e, c, 1e-4) for e, c in zip(self._edges, self.reference.T, strict=True)]

    def features(self, x: np.ndarray) -> np.ndarray:
        """The drift features of each input: principal-component projections, mean and std."""
        flat = x.reshape(len(x), -1)
        return np.column_stack([self.pca.transform(flat), flat.mean(1), flat.std(1)])

    def check(self, window: np.ndarray) -> DriftReport:
        """PSI and KS of each feature of `window` (a batch of inputs) against the reference."""
        live = self.features(window)
        columns = range(live.shape[1])
        return DriftReport(
            np.array([_psi(self._expected[j], _shares(self._edges[j], live[:, j], 1e-4)) for j in columns]),
            np.array([stats.ks_2samp(self.reference[:, j], live[:, j]).pvalue for j in columns]),
            self.threshold,
        )
