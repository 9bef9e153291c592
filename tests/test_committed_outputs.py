"""The committed outputs are one run: 99 shows the numbers, checks and run that the notebooks show.

These tests read the committed notebooks only (no kernel): they fail when a notebook was executed in
another run than the others (refresh them together with `make refresh`), when a metric in 99 differs from
the value printed by the notebook that recorded it, when a check count in 99 differs from the PASS lines
of the notebook, when the published report (`docs/report.md`) shows another run, when an exercise's
answer is printed next to its question, or when the committed run exceeds the series' time budget.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

from labkit.workbook import runner

NOTEBOOKS = runner.available_notebooks()
DASHBOARD = next(p for p in NOTEBOOKS if p.stem.startswith("99_"))
LESSONS = [p for p in NOTEBOOKS if p != DASHBOARD]
_RUN_LINE = re.compile(r"^run (\S+) \| ", re.MULTILINE)
_TABLE_HEADER = re.compile(r"^metric\s+value\s+unit\s+framework$")
_STATUS_LINE = re.compile(r"^(\d\d_\w+)\s+(ok|failed|timeout|running|not run)\s+(\d+) checks\s+([\d.]+) s")
MAX_NOTEBOOK_S = 120.0
# The case study trains MobileNetV2 for 12 epochs (fewer do not reach 0.95 test accuracy on every seed) and
# converts it three times (7-15 s each): 130-160 s on a 2-core CPU as the machine's speed varies, the one
# known excess.
OVER_BUDGET_S = {"13_case_study_image_classifier": 180.0}
MAX_SERIES_MIN = 16.0  # 16 notebooks, about a minute each


@cache
def stdout_of(path: Path) -> tuple[str, ...]:
    """Every stdout stream text of a committed notebook, in cell order."""
    nb = nbformat.read(path, as_version=4)
    return tuple(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )


def metric_tables(path: Path) -> dict[str, str]:
    """metric -> printed value from every `ledger.table` the notebook printed (the last one wins)."""
    values: dict[str, str] = {}
    for text in stdout_of(path):
        lines = text.splitlines()
        for start, line in enumerate(lines):
            if not _TABLE_HEADER.match(line.strip()):
                continue
            for row in lines[start + 1 :]:
                parts = row.split()
                if len(parts) < 3 or "." not in parts[0]:
                    break
                values[parts[0]] = parts[1]
    return values


def run_ids(path: Path) -> set[str]:
    return {m.group(1) for text in stdout_of(path) for m in _RUN_LINE.finditer(text)}


def dashboard_status() -> dict[str, tuple[str, int, float]]:
    found = {}
    for text in stdout_of(DASHBOARD):
        for line in text.splitlines():
            m = _STATUS_LINE.match(line)
            if m:
                found[m.group(1)] = (m.group(2), int(m.group(3)), float(m.group(4)))
    return found


def test_every_committed_notebook_comes_from_one_run() -> None:
    ids = {p.stem: run_ids(p) for p in NOTEBOOKS}
    assert all(len(found) == 1 for found in ids.values()), f"notebooks without exactly one run id: {ids}"
    distinct = {next(iter(found)) for found in ids.values()}
    assert len(distinct) == 1, (
        f"committed notebooks come from {len(distinct)} runs: {ids}; run `make refresh`"
    )


def test_the_dashboard_shows_that_run() -> None:
    (run_id,) = run_ids(DASHBOARD)
    shown = [line for t in stdout_of(DASHBOARD) for line in t.splitlines() if line.startswith("Showing ")]
    assert shown and shown[0].startswith(f"Showing run {run_id},"), shown


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_metrics_in_the_dashboard_match_the_notebook_that_recorded_them(path: Path) -> None:
    shown = metric_tables(DASHBOARD)
    printed = metric_tables(path)
    assert printed, f"{path.stem} prints no Results table (`labkit.ledger.table(...)`)"
    differ = {m: (v, shown.get(m)) for m, v in printed.items() if shown.get(m) != v}
    assert not differ, f"metric: ({path.stem} printed, 99 shows): {differ}"


def test_check_counts_in_the_dashboard_match_the_pass_lines() -> None:
    status = dashboard_status()
    for path in LESSONS:
        passes = sum(len(re.findall(r"^PASS: ", text, re.MULTILINE)) for text in stdout_of(path))
        assert status.get(path.stem, ("missing", -1, 0.0))[:2] == ("ok", passes), (
            f"{path.stem}: 99 shows {status.get(path.stem)}, the notebook prints {passes} PASS lines"
        )


def test_the_committed_run_keeps_the_time_budget() -> None:
    seconds = {name: s for name, (_, _, s) in dashboard_status().items()}
    slow = {name: s for name, s in seconds.items() if s > OVER_BUDGET_S.get(name, MAX_NOTEBOOK_S)}
    assert not slow, f"over {MAX_NOTEBOOK_S:.0f} s (or {OVER_BUDGET_S}) in the committed run: {slow}"
    total_min = sum(seconds.values()) / 60
    assert total_min <= MAX_SERIES_MIN, f"the committed run took {total_min:.1f} min > {MAX_SERIES_MIN}"


def test_the_instructor_guide_times_that_run() -> None:
    (run_id,) = run_ids(DASHBOARD)
    guide = (DASHBOARD.parents[1] / "docs" / "instructors.md").read_text(encoding="utf-8")
    section = guide.split("<!-- run times: start -->")[1].split("<!-- run times: end -->")[0]
    assert f"`{run_id}`" in section, f"docs/instructors.md times another run than {run_id}: {section[:200]}"


def test_the_published_report_is_that_runs() -> None:
    (run_id,) = run_ids(DASHBOARD)
    report = DASHBOARD.parents[1] / "docs" / "report.md"
    lines = report.read_text(encoding="utf-8").splitlines()
    shown = [line for line in lines if line.startswith("Showing ")]
    assert shown and re.match(rf"Showing run {re.escape(run_id)}[ ,]", shown[0]), (
        f"docs/report.md: {shown[:1]}"
    )
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", "\n".join(lines))
    missing = [f for f in figures if not (report.parent / f).is_file()]
    assert figures and not missing, f"docs/report.md figures {figures}, missing {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_exercise_prints_its_answer_next_to_its_question(path: Path) -> None:
    graded = [t for t in stdout_of(path) if re.search(r"^PASS: E\d", t, re.MULTILINE)]
    leaking = [t.strip() for t in graded if "(checked with the reference solution)" not in t]
    assert graded, f"{path.stem} has no graded exercise in its committed outputs"
    assert not leaking, f"{path.stem} prints exercise figures in its committed outputs: {leaking}"
