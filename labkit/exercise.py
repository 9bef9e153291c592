"""Exercises that grade the learner: not answered yet, not yet (with the figures and a hint), or PASS.

An exercise cell leaves the answer as `None`; the grader prints a prompt until the learner fills it in. A
wrong answer, of the wrong type or shape, or code of the learner's that raises, prints "Not yet" with what
was expected and a hint, and the notebook goes on. Reference solutions run only when the notebook runs with
`reveal_solutions=True` (the runner, nbval and `labkit refresh` do, so CI proves every check passes with
its reference); then a wrong answer raises, and PASS is printed without the answer's figures, so no
committed output shows an answer next to its question.
"""

from __future__ import annotations

import numbers
import os
import traceback
from collections.abc import Callable
from typing import Any

from labkit import check

REVEAL_ENV = "LABKIT_REVEAL_SOLUTIONS"


def revealed(requested: bool = False) -> bool:
    """True when the notebook's `reveal_solutions` parameter or LABKIT_REVEAL_SOLUTIONS=1 asks for it."""
    return bool(requested) or os.environ.get(REVEAL_ENV) == "1"


class Kind:
    """What an answer must be, with a name for the "Not yet" message (NUMBER, INTEGER, ...)."""

    def __init__(self, name: str, test: Callable[[Any], bool]) -> None:
        self.name, self.test = name, test

    def __call__(self, value: Any) -> bool:
        return self.test(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_names(value: Any) -> bool:
    return isinstance(value, set | frozenset) and all(isinstance(x, str) for x in value)


NUMBER = Kind("a number", _is_number)
INTEGER = Kind("an integer", _is_integer)
TEXT = Kind("a string", lambda v: isinstance(v, str))
FUNCTION = Kind("a function", callable)
NAMES = Kind("a set of names", _is_names)


def pair_of(kind: Kind) -> Kind:
    """A 2-tuple whose items are both of `kind`."""
    return Kind(
        f"a pair ({kind.name}, {kind.name})",
        lambda v: isinstance(v, tuple) and len(v) == 2 and all(kind(x) for x in v),
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def _figures(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items())


def _learner_error(error: BaseException) -> str:
    """The learner's exception as one line, naming where in their code it came from when it can."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if f.filename.startswith("<ipython-input") or "ipykernel" in f.filename
    ]
    where = f" (line {frames[-1].lineno} of your cell)" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def grade(
    claim: str,
    answer: Any,
    accept: Callable[[Any], bool | tuple[bool, dict[str, Any]]],
    *,
    kind: Kind | None = None,
    hint: str = "",
    reveal: bool = False,
) -> None:
    """Grade one answer: print a prompt, "Not yet: ..." or "PASS: claim"; it returns nothing, so a cell
    ending in it shows only what it printed.

    `accept(answer)` says whether the answer is right, optionally with figures to show; it may run the
    learner's code, and whatever it raises is reported as "Not yet". Under `reveal` (reference solutions
    applied) anything but PASS raises AssertionError, and PASS shows no figures.
    """
    reveal = revealed(reveal)
    label = claim.split(":", 1)[0]
    if answer is None:
        if reveal:
            raise AssertionError(f"FAIL: {claim}: the reference solution left the answer as None")
        print(f"{label} is not answered yet: fill in the cell above and run it, then this one.")
        return
    if kind is not None and not kind(answer):
        _not_yet(
            claim,
            f"expected {kind.name}, got {type(answer).__name__} {_fmt(answer)}",
            hint=hint,
            reveal=reveal,
        )
        return
    try:
        outcome = accept(answer)
    except Exception as error:  # the learner's code or answer broke the check: say so, keep going
        _not_yet(claim, f"checking your answer raised {_learner_error(error)}", hint=hint, reveal=reveal)
        return
    ok, figures = outcome if isinstance(outcome, tuple) else (outcome, {})
    if not ok:
        parts = ([] if callable(answer) else [f"your answer {_fmt(answer)}"]) + (
            [_figures(figures)] if figures else []
        )
        _not_yet(claim, "; ".join(parts) or "your code ran but gave a wrong result", hint=hint, reveal=reveal)
        return
    if reveal:
        check.announce_pass(claim, " (checked with the reference solution)")
    else:
        shown = figures if callable(answer) else {"answer": answer, **figures}
        check.announce_pass(claim, f" ({_figures(shown)})" if shown else "")


def _not_yet(claim: str, detail: str, *, hint: str, reveal: bool) -> None:
    message = f"Not yet: {claim}: {detail}." + (f" Hint: {hint}" if hint else "")
    if reveal:
        raise AssertionError(f"FAIL (reference solution): {message}")
    print(message)


def equal(expected: Any) -> Callable[[Any], bool | tuple[bool, dict[str, Any]]]:
    """Accept exactly `expected`; a wrong number is told whether it is too high or too low."""

    def accept(answer: Any) -> bool | tuple[bool, dict[str, Any]]:
        if answer == expected:
            return True
        if _is_number(answer) and _is_number(expected):
            return False, {"direction": "too high" if answer > expected else "too low"}
        return False

    return accept


def within(
    expected: float, *, rel: float = 0.0, abs_: float = 0.0, show_expected: bool = False
) -> Callable[[Any], bool | tuple[bool, dict[str, Any]]]:
    """Accept a number within `rel` (relative) or `abs_` of `expected`; a miss says which way it is off,
    and the measured figure itself when the answer was a prediction of it (`show_expected`)."""
    tolerance = max(abs(expected) * rel, abs_)

    def accept(answer: Any) -> bool | tuple[bool, dict[str, Any]]:
        if abs(answer - expected) <= tolerance:
            return True, ({"measured": expected} if show_expected else {})
        figures: dict[str, Any] = {"direction": "too high" if answer > expected else "too low"}
        if show_expected:
            figures["measured"] = expected
        return False, figures

    return accept
