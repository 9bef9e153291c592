"""Verdicts computed from measurements: "faster", "slower" or "no detectable difference", never by hand.

Every notebook that compares two things prints one of these instead of writing the verdict in markdown.
`ratio` compares a statistic of two samples (latencies: the median or a percentile) with a bootstrap
confidence interval, paired when the samples were taken interleaved; `difference` compares the mean of
repeated results (accuracy over seeds) with Student's t interval. The word follows from the interval
alone: it excludes "no change" (for a ratio, by more than `MARGIN`), or the verdict is "no detectable
difference".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

SAME = "no detectable difference"
MARGIN = 0.02  # a ratio within 2% of 1 is too small to matter, however narrow its interval
_COMPARATIVES = {"faster", "slower", "better", "worse", "smaller", "larger", "higher", "lower"}


@dataclass(frozen=True)
class Verdict:
    """How `b` compares with `a`: an estimate, its confidence interval and the word the interval decides."""

    word: str
    estimate: float
    low: float
    high: float
    a: str
    b: str
    kind: str  # "ratio" (1.0 means equal) or "difference" (0.0 means equal)
    unit: str
    confidence: float
    n: int
    margin: float = 0.0  # a ratio within 1 +/- margin of "no change" does not count as a difference

    @property
    def decided(self) -> bool:
        """True when the interval excludes "no change"."""
        return self.word != SAME

    def _digits(self) -> int:
        """Decimals enough that a decided interval does not print as touching "no change" (1.00x, +0.00)."""
        neutral = 1.0 if self.kind == "ratio" else 0.0
        for digits in (2, 3, 4):
            ends = {round(v, digits) for v in (self.low, self.high)}
            if not self.decided or round(neutral, digits) not in ends:
                return digits
        return 5

    def sentence(self, digits: int | None = None) -> str:
        """One printed sentence with the word, the estimate and its interval (to `digits` decimals, or just
        enough). A ratio below 1 is shown inverted ("slower: 2.25x" rather than 0.44x), so the figure
        always reads as "by how much"."""
        digits = self._digits() if digits is None else digits
        if self.kind == "ratio":
            estimate, low, high = self.estimate, self.low, self.high
            if self.decided and estimate < 1.0:
                estimate, low, high = 1 / estimate, 1 / high, 1 / low
            figure = f"{estimate:.{digits}f}x (95% CI {low:.{digits}f}-{high:.{digits}f}x"
        else:
            figure = (
                f"{self.estimate:+.{digits}f} {self.unit} "
                f"(95% CI {self.low:+.{digits}f} to {self.high:+.{digits}f}"
            )
        figure = figure.replace("95%", f"{100 * self.confidence:.0f}%") + f", n={self.n})"
        if self.word == SAME:
            within = f" (a change must clear +/-{100 * self.margin:.0f}% to count)" if self.margin else ""
            return f"{self.b} vs {self.a}: {SAME}{within}, {figure}."
        if self.word in _COMPARATIVES:
            return f"{self.b} is {self.word} than {self.a}: {figure}."
        return f"{self.b} {self.word} {self.a}: {figure}."


def _statistic(values: np.ndarray, statistic: float | str, axis: int = -1) -> np.ndarray:
    if statistic == "mean":
        return np.mean(values, axis=axis)
    return np.percentile(values, float(statistic), axis=axis)


def _word(low: float, high: float, *, neutral: float, words: tuple[str, str]) -> str:
    if low > neutral:
        return words[0]
    if high < neutral:
        return words[1]
    return SAME


def ratio(
    a: Any,
    b: Any,
    *,
    labels: tuple[str, str] = ("a", "b"),
    statistic: float | str = 50,
    paired: bool = False,
    lower_is_better: bool = True,
    words: tuple[str, str] = ("faster", "slower"),
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    margin: float = MARGIN,
) -> Verdict:
    """How much better `b` is than `a` as a ratio of a statistic (a percentile, or "mean") of two samples.

    With `lower_is_better` (latencies) the estimate is stat(a) / stat(b), so 2.0 means b takes half the
    time; otherwise stat(b) / stat(a). `paired` resamples the i-th values of both together, as for calls
    timed interleaved (a, b, a, b, ...). The interval is the bootstrap's percentile interval. With the
    `margin` (0.02 = 2%), b is "faster" only when the whole interval lies above 1 + margin (and "slower"
    below 1 / (1 + margin)): thousands of interleaved calls make an interval so narrow that a 0.3% order
    effect would otherwise count, so a difference too small to matter is "no detectable difference" too.
    """
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.size < 2 or y.size < 2:
        raise ValueError(f"a ratio verdict needs at least 2 values on each side; got {x.size} and {y.size}.")
    if paired and x.size != y.size:
        raise ValueError(f"paired samples must have the same length; got {x.size} and {y.size}.")
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, x.size, size=(resamples, x.size))
    ib = ia if paired else rng.integers(0, y.size, size=(resamples, y.size))
    sa, sb = _statistic(x[ia], statistic), _statistic(y[ib], statistic)
    point_a, point_b = float(_statistic(x, statistic)), float(_statistic(y, statistic))
    if lower_is_better:
        boot, estimate = sa / sb, point_a / point_b
    else:
        boot, estimate = sb / sa, point_b / point_a
    tail = 100 * (1 - confidence) / 2
    low, high = (float(v) for v in np.percentile(boot, [tail, 100 - tail]))
    if low > 1.0 + margin:
        word = words[0]
    elif high < 1.0 / (1.0 + margin):
        word = words[1]
    else:
        word = SAME
    return Verdict(
        word=word,
        estimate=estimate,
        low=low,
        high=high,
        a=labels[0],
        b=labels[1],
        kind="ratio",
        unit="x",
        confidence=confidence,
        n=min(x.size, y.size),
        margin=margin,
    )


def difference(
    a: Any,
    b: Any,
    *,
    labels: tuple[str, str] = ("a", "b"),
    paired: bool = True,
    higher_is_better: bool = True,
    words: tuple[str, str] = ("better", "worse"),
    unit: str = "",
    confidence: float = 0.95,
) -> Verdict:
    """Mean of b - a (or a - b when lower is better) with Student's t interval: paired (the same seeds or
    examples on both sides) or Welch's for independent samples. Suited to a handful of repeated runs."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.size < 2 or y.size < 2:
        raise ValueError(
            f"a difference verdict needs at least 2 values on each side; got {x.size} and {y.size}."
        )
    sign = 1.0 if higher_is_better else -1.0
    if paired:
        if x.size != y.size:
            raise ValueError(f"paired samples must have the same length; got {x.size} and {y.size}.")
        gaps = sign * (y - x)
        estimate, se, dof = float(gaps.mean()), float(gaps.std(ddof=1) / math.sqrt(gaps.size)), gaps.size - 1
    else:
        va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
        estimate, se = float(sign * (y.mean() - x.mean())), math.sqrt(va + vb)
        dof = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1)) if va + vb > 0 else 1
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    low, high = estimate - half, estimate + half
    return Verdict(
        word=_word(low, high, neutral=0.0, words=words),
        estimate=estimate,
        low=low,
        high=high,
        a=labels[0],
        b=labels[1],
        kind="difference",
        unit=unit,
        confidence=confidence,
        n=min(x.size, y.size),
    )
