"""Self-checks: a notebook proves its lesson by printing `PASS: <claim>` or failing with the figures.

The runner counts the PASS lines of every executed notebook, so a check is also a visible result.
"""

from __future__ import annotations

import math
from typing import Any


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
    print(f"PASS: {claim}{detail}")


def check_at_least(value: float, minimum: float, claim: str) -> None:
    """`value >= minimum`, with both figures shown either way."""
    check(value >= minimum, claim, value=value, minimum=minimum)


def check_at_most(value: float, maximum: float, claim: str) -> None:
    """`value <= maximum`, with both figures shown either way."""
    check(value <= maximum, claim, value=value, maximum=maximum)


def check_equal(value: Any, expected: Any, claim: str) -> None:
    """Exact equality, for counts, shapes and class lists."""
    check(value == expected, claim, value=value, expected=expected)


def check_close(value: float, expected: float, claim: str, rel: float = 1e-6, abs_: float = 0.0) -> None:
    """Float equality within a relative/absolute tolerance, tolerances shown with the figures."""
    ok = math.isclose(value, expected, rel_tol=rel, abs_tol=abs_)
    check(ok, claim, value=value, expected=expected, rel=rel, abs=abs_)
