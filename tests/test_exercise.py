"""Exercises grade in three states and never stop the notebook, except when a reference solution fails."""

from __future__ import annotations

import pytest

from labkit import exercise


@pytest.fixture(autouse=True)
def learner_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(exercise.REVEAL_ENV, raising=False)


def test_unanswered_prompts_and_neither_passes_nor_fails(capsys: pytest.CaptureFixture[str]) -> None:
    exercise.grade("E1: bytes", None, exercise.equal(12))
    out = capsys.readouterr().out
    assert "E1 is not answered yet" in out and "PASS" not in out and "Not yet" not in out, out


def test_wrong_answer_says_not_yet_with_direction_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    exercise.grade("E1: bytes", 20, exercise.equal(12), hint="count the bytes")
    out = capsys.readouterr().out
    assert (
        out.startswith("Not yet: E1: bytes: your answer 20; direction='too high'.") and "Hint: count" in out
    ), out


def test_right_answer_passes_with_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    exercise.grade("E1: bytes", 12, exercise.equal(12))
    assert capsys.readouterr().out == "PASS: E1: bytes (answer=12)\n"


@pytest.mark.parametrize(
    ("answer", "named"), [("12", "got str '12'"), ((1, 2), "got tuple (1, 2)"), (True, "got bool")]
)
def test_wrong_type_or_shape_is_not_yet_naming_what_was_expected(
    answer: object, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    exercise.grade("E2: size", answer, exercise.equal(12), kind=exercise.INTEGER)
    out = capsys.readouterr().out
    assert "Not yet: E2: size: expected an integer, " in out and named in out, out


def test_learner_code_that_raises_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(x: int) -> int:
        return x // 0

    exercise.grade("E3: code", broken, lambda f: f(3) == 1, kind=exercise.FUNCTION)
    out = capsys.readouterr().out
    assert (
        "Not yet: E3: code: checking your answer raised ZeroDivisionError: integer division or modulo by zero"
        in out
    ), out


def test_revealed_pass_hides_the_answer_and_a_failing_reference_raises(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(exercise.REVEAL_ENV, "1")
    exercise.grade("E1: bytes", 12, exercise.equal(12))
    out = capsys.readouterr().out
    assert (
        out == "PASS: E1: bytes (checked with the reference solution)\n" and "12" not in out.split("(")[1]
    ), out
    with pytest.raises(
        AssertionError, match="FAIL \\(reference solution\\): Not yet: E1: bytes: your answer 13"
    ):
        exercise.grade("E1: bytes", 13, exercise.equal(12))
    with pytest.raises(AssertionError, match="left the answer as None"):
        exercise.grade("E1: bytes", None, exercise.equal(12))


def test_within_accepts_the_tolerance_and_shows_the_measurement_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    accept = exercise.within(100.0, rel=0.1, show_expected=True)
    exercise.grade("E1: size", 109, accept)
    exercise.grade("E1: size", 111, accept)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "PASS: E1: size (answer=109, measured=100)",
        "Not yet: E1: size: your answer 111; direction='too high', measured=100.",
    ], out


def test_a_wrong_function_is_not_shown_by_its_repr(capsys: pytest.CaptureFixture[str]) -> None:
    exercise.grade("E3: code", lambda x: x, lambda f: (f(2) == 4, {"f(2)": f(2)}), kind=exercise.FUNCTION)
    exercise.grade("E3: code", lambda x: x * x, lambda f: f(2) == 4, kind=exercise.FUNCTION)
    assert capsys.readouterr().out.splitlines() == ["Not yet: E3: code: f(2)=2.", "PASS: E3: code"]
