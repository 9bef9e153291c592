"""Data drift (notebook 11): live inputs compared with the training set, feature by feature.

Inputs are summarised by their leading principal-component projections plus mean and spread; each feature
is compared by the population stability index and the two-sample KS test; the largest PSI raises the alert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.decomposition import PCA


def psi(reference: np.ndarray, live: np.ndarray, bins: int = 10, *, floor: float = 1e-4) -> float:
    """Population stability index of one feature: sum((live% - ref%) * ln(live% / ref%)) over the
    reference's quantile bins (shares floored at `floor` so an empty bin is not infinite)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, live, side="right"), minlength=len(edges) + 1)
    expected = np.maximum(expected / expected.sum(), floor)
    actual = np.maximum(actual / actual.sum(), floor)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


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

    def features(self, x: np.ndarray) -> np.ndarray:
        """The drift features of each input: principal-component projections, mean and std."""
        flat = x.reshape(len(x), -1)
        return np.column_stack([self.pca.transform(flat), flat.mean(1), flat.std(1)])

    def check(self, window: np.ndarray) -> DriftReport:
        """PSI and KS of each feature of `window` (a batch of inputs) against the reference."""
        live = self.features(window)
        columns = range(live.shape[1])
        return DriftReport(
            np.array([psi(self.reference[:, j], live[:, j], self.bins) for j in columns]),
            np.array([stats.ks_2samp(self.reference[:, j], live[:, j]).pvalue for j in columns]),
            self.threshold,
        )
