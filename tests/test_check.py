"""labkit.check: a PASS line with the figures, or an AssertionError naming them."""

from __future__ import annotations

import pytest

from labkit import check


def test_pass_line_shows_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    check.check_at_least(0.97, 0.95, "accuracy reaches the target")
    out = capsys.readouterr().out
    assert out == "PASS: accuracy reaches the target (value=0.97, minimum=0.95)\n", out


def test_failure_names_claim_and_figures() -> None:
    with pytest.raises(
        AssertionError, match=r"FAIL: accuracy reaches the target \(value=0.93, minimum=0.95\)"
    ):
        check.check_at_least(0.93, 0.95, "accuracy reaches the target")


def test_equal_and_close() -> None:
    with pytest.raises(AssertionError, match=r"value=109385, expected=109386"):
        check.check_equal(109_385, 109_386, "parameter count")
    with pytest.raises(AssertionError, match=r"value=1.1, expected=1"):
        check.check_close(1.1, 1.0, "ratio", rel=0.01)
    check.check_close(1.0 + 1e-9, 1.0, "ratio within tolerance")
    with pytest.raises(AssertionError, match=r"value=3, maximum=2"):
        check.check_at_most(3, 2, "latency budget")


def test_paired_drop_counts_only_changed_answers(capsys) -> None:
    reference = [True] * 290 + [False] * 10
    candidate = [True] * 287 + [False] * 3 + [True] * 1 + [False] * 9  # 3 lost, 1 gained
    drop, se, changed = check.paired_drop(reference, candidate)
    assert (round(drop, 4), changed) == (round(200 / 300, 4), 4), (drop, changed)
    assert abs(se - 100 * (4 - 300 * (2 / 300) ** 2) ** 0.5 / 300) < 1e-9, se
    assert check.check_drop_at_most(reference, candidate, 1.0, claim="int8 within a point") == drop
    assert "PASS: int8 within a point (drop_pts=0.666667" in capsys.readouterr().out
    worse = [True] * 250 + [False] * 50  # 40 more lost: 13 points, far beyond the noise
    with pytest.raises(AssertionError, match="FAIL: noise calibration within a point .drop_pts=13.3333"):
        check.check_drop_at_most(reference, worse, 1.0, claim="noise calibration within a point")
