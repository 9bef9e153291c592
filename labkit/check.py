"""Self-checks: a notebook proves its lesson by printing `PASS: <claim>` or failing with the figures.

The runner counts the PASS lines of every executed notebook, so a check is also a visible result; in an
interactive run each PASS is also logged (`ledger.log_check`) for the dashboard to count.
"""

from __future__ import annotations

import math
from typing import Any


def announce_pass(claim: str, detail: str = "") -> None:
    """Print `PASS: claim detail` and log the claim of an interactive run."""
    from labkit import ledger

    print(f"PASS: {claim}{detail}")
    ledger.log_check(claim)


def _figures(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def check(condition: bool, claim: str, **figures: Any) -> None:
    """Print `PASS: claim (figures)` or raise AssertionError naming the claim and the figures."""
    detail = f" ({_figures(figures)})" if figures else ""
    if not condition:
        raise AssertionError(f"FAIL: {claim}{detail}")
    announce_pass(claim, detail)


def check_at_least(value: float, minimum: float, claim: str) -> None:
    """`value >= minimum`, with both figures shown either way."""
    check(value >= minimum, claim, value=value, minimum=minimum)


def check_at_most(value: float, maximum: float, claim: str) -> None:
    """`value <= maximum`, with both figures shown either way."""
    check(value <= maximum, claim, value=value, maximum=maximum)


def check_equal(value: Any, expected: Any, claim: str) -> None:
    """Exact equality, for counts, shapes and class lists."""
    check(value == expected, claim, value=value, expected=expected)


def check_close(value: float, expected: float, claim: str, *, rel: float = 1e-6, abs_: float = 0.0) -> None:
    """Float equality within a relative/absolute tolerance, tolerances shown with the figures."""
    ok = math.isclose(value, expected, rel_tol=rel, abs_tol=abs_)
    check(ok, claim, value=value, expected=expected, rel=rel, abs=abs_)


def paired_drop(reference_correct: Any, candidate_correct: Any) -> tuple[float, float, int]:
    """Accuracy drop in points of a candidate against a reference on the same examples, its standard error
    (paired: only examples whose answer changed carry information), and how many changed."""
    import numpy as np

    ref, cand = np.asarray(reference_correct, bool), np.asarray(candidate_correct, bool)
    n = ref.size
    lost, gained = int(np.sum(ref & ~cand)), int(np.sum(~ref & cand))
    drop = (lost - gained) / n
    se = math.sqrt(max(lost + gained - n * drop * drop, 0.0)) / n
    return 100 * drop, 100 * se, lost + gained


def check_drop_at_most(
    reference_correct: Any, candidate_correct: Any, maximum_pts: float, *, claim: str
) -> float:
    """The candidate loses at most `maximum_pts` points, within the test set's noise: fails when even the
    drop's 95% lower bound (drop - 1.96 SE, paired) exceeds the maximum. Returns the measured drop.

    With a few hundred test images one image is a third of a point and a handful of answers change either
    way under quantization, so the point estimate alone would pass or fail by chance near the goal.
    """
    drop, se, changed = paired_drop(reference_correct, candidate_correct)
    check(
        drop - 1.96 * se <= maximum_pts,
        claim,
        drop_pts=drop,
        se_pts=se,
        changed=changed,
        images=len(reference_correct),
        maximum_pts=maximum_pts,
    )
    return drop
