"""The website: built from the committed notebooks, then opened page by page in headless Chromium.

The site is built as `make book` builds it (into the results folder, so a reviewer finds the site and the
screenshots the test saves under `book/`), served on 127.0.0.1, and every page must load without a console
error, failed request or off-site request, show every image and link only to pages and anchors that exist.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat
import pytest
import yaml

from labkit.core import paths
from labkit.workbook import book, book_check, book_pages, cli

REPO = "https://github.com/example-owner/example-repo"


@pytest.fixture(scope="module")
def site() -> Path:
    """The site built as `make book` builds it: `labkit book`, in a process of its own."""
    out = paths.results_dir() / "book"
    command = [sys.executable, "-m", "labkit.workbook.cli", "book", "--out", str(out), "--repository", REPO]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and "Built " in done.stdout, (done.stdout, done.stderr[-800:])
    return out / "html"


@pytest.fixture(scope="module")
def browser(site: Path) -> Iterator[tuple[Any, str]]:
    try:
        book_check.browser_path()
    except book_check.BrowserMissing as missing:
        pytest.fail(str(missing))
    with book_check.serve(site) as base, book_check.chromium() as chromium:
        yield chromium, base


def _notebook_pages() -> list[str]:
    return [f"notebooks/{p.stem}.html" for p in sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))]


@pytest.mark.slow
def test_the_site_has_every_lesson_by_part_with_its_run_and_launch_links(site: Path) -> None:
    pages = {str(p.relative_to(site)) for p in book.pages(site)}
    expected = {*_notebook_pages(), "index.html", "docs/instructors.html", "docs/report.html", "search.html"}
    assert expected <= pages, f"pages missing from the site: {sorted(expected - pages)}"
    landing = (site / "index.html").read_text(encoding="utf-8")
    parts = [part for part, _ in book_pages.PARTS]
    positions = [landing.find(f">{part}<") for part in parts]
    assert -1 not in positions and positions == sorted(positions), f"parts {parts} at {positions}"
    lesson = (site / "notebooks" / "03_quantization.html").read_text(encoding="utf-8")
    nb = nbformat.read(paths.notebooks_dir() / "03_quantization.ipynb", as_version=4)
    run = book_pages.run_info(nb, "03")
    binder = f"https://mybinder.org/v2/gh/example-owner/example-repo/{book_pages.BRANCH}?urlpath=lab/tree/notebooks/"
    for needle in (run.run_id, run.date, run.machine, binder + "03_quantization.ipynb", f"{REPO}/blob/main/"):
        assert needle in lesson, f"03's page does not show {needle!r}"
    solution = lesson.index("Reference solution (collapsed)")
    folded = lesson.rfind("<details", 0, solution) > lesson.rfind("</details>", 0, solution)
    assert folded and book.NBVAL_MARK not in lesson, "03's solution must be folded, nbval's markers gone"


def test_a_page_weighs_its_html_and_the_images_it_shows(tmp_path: Path) -> None:
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "a plot.png").write_bytes(b"x" * 1_000_000)
    page = '<img src="_images/a%20plot.png"><img src="data:image/png;base64,AAAA"><img src="https://x.org/y.png">'
    (tmp_path / "index.html").write_text(page)
    weights = book.page_weights(tmp_path)
    assert weights == {"index.html": len(page) + 1_000_000 + len("data:image/png;base64,AAAA")}, weights


@pytest.mark.slow
def test_every_page_loads_cleanly_in_chromium(site: Path, browser: tuple[Any, str]) -> None:
    chromium, base = browser
    results, problems = book_check.check_site(site, chromium, base)
    assert len(results) >= len(_notebook_pages()) + 4, [r.page for r in results]
    assert sum(len(r.links) for r in results) > 100, "too few internal links were followed"
    assert not problems, f"{len(problems)} problems in the browser: {problems[:20]}"


@pytest.mark.slow
def test_search_finds_the_quantization_lesson(browser: tuple[Any, str]) -> None:
    chromium, base = browser
    query, expected = book_check.SEARCH
    hits, errors = book_check.search_hits(chromium, base, query)
    assert expected in hits and not errors, f"search for {query!r} listed {hits}; console errors {errors}"


@pytest.mark.slow
def test_screenshots_at_desktop_and_phone_width(browser: tuple[Any, str], site: Path) -> None:
    chromium, base = browser
    folder = site.parent / "screenshots"
    saved = book_check.screenshots(chromium, base, pages=book_check.SCREENSHOT_PAGES, folder=folder)
    widths = {p.name: struct.unpack(">I", p.read_bytes()[16:20])[0] for p in saved}
    expected = {
        f"{Path(page).stem}-{name}.png": viewport["width"]
        for name, viewport in book_check.VIEWPORTS.items()
        for page in book_check.SCREENSHOT_PAGES
    }
    assert widths == expected, f"screenshot widths {widths}, expected {expected}"


@pytest.mark.slow
def test_the_checker_catches_a_broken_page(browser: tuple[Any, str], tmp_path: Path) -> None:
    chromium, _ = browser
    broken = tmp_path / "site"
    broken.mkdir()
    (broken / "index.html").write_text(
        '<html><body><p id="here">ok</p><img src="missing.png"><a href="nowhere.html">x</a>'
        '<a href="index.html#absent">y</a><script>throw new Error("lesson broke")</script>'
        '<img src="https://example.org/logo.png"></body></html>'
    )
    with book_check.serve(broken) as base:
        _, problems = book_check.check_site(broken, chromium, base)
    for expected in (
        "lesson broke",
        "image not shown: http",
        "nowhere.html (no such file)",
        "no element #absent",
        "off-site",
    ):
        assert any(expected in p for p in problems), f"{expected!r} not among the problems {problems}"


@pytest.fixture
def notebooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the committed notebooks that a test may damage."""
    folder = tmp_path / "notebooks"
    shutil.copytree(paths.notebooks_dir(), folder)
    monkeypatch.setattr(paths, "notebooks_dir", lambda: folder)
    return folder


def _damage(path: Path, *, error: bool) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    if error:
        code = next(c for c in nb.cells if c.cell_type == "code")
        code.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="broke", traceback=[])]
    nbformat.write(nb, path)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (False, "04_distillation.ipynb has no outputs; execute the series with `make refresh`"),
        (True, "04_distillation.ipynb shows an error output in code cell 1 (ValueError: broke)"),
    ],
)
def test_a_notebook_without_outputs_or_with_an_error_fails_the_build(
    notebooks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], error: bool, message: str
) -> None:
    _damage(notebooks / "04_distillation.ipynb", error=error)
    code = cli.main(["book", "--out", str(tmp_path / "book"), "--repository", REPO])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and message in err, (code, err)
    assert err.count("\n") == 1, f"one sentence expected: {err!r}"
    assert not (tmp_path / "book" / "html").exists(), "a refused build must write no site"


def test_missing_site_tools_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "sphinx.application", None)  # as if Sphinx were not installed
    with pytest.raises(book.BookError, match=r"Sphinx is not installed; `make book` installs"):
        book.build(tmp_path / "book", repository=REPO)
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    with pytest.raises(book_check.BrowserMissing, match=r"Playwright is not installed; `make book` installs"):
        with book_check.chromium():
            pass


def test_a_missing_browser_says_how_to_install_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(book_check.BROWSER_ENV, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(book_check.BrowserMissing, match=r"install it with `make browser` \(apt-get install"):
        book_check.browser_path()
    monkeypatch.setenv(book_check.BROWSER_ENV, "/nonexistent/chrome")
    with pytest.raises(book_check.BrowserMissing, match="LABKIT_CHROMIUM=/nonexistent/chrome is not an"):
        book_check.browser_path()


def test_the_repository_address_is_checked_and_links_outside_the_site_point_at_it() -> None:
    assert book.repository_url(REPO + "/") == REPO
    with pytest.raises(book.BookError, match="is not https://github.com/OWNER/REPO"):
        book.repository_url("git@github.com:owner/repo.git")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", book.repository_url()), "pyproject's address"
    text = "[guide](../docs/instructors.md), [code](../labkit/check.py#L3), [web](https://x.org), [a](#top)"
    fixed = book.rewrite_links(
        text, PurePosixPath("notebooks/03.ipynb"), staged={"docs/instructors.md"}, repo=REPO
    )
    assert fixed == (
        f"[guide](../docs/instructors.md), [code]({REPO}/blob/main/labkit/check.py#L3), "
        "[web](https://x.org), [a](#top)"
    ), fixed


def test_the_pages_workflow_uploads_what_labkit_book_builds() -> None:
    workflow = yaml.safe_load((paths.repo_root() / ".github" / "workflows" / "book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    command = next(step["run"] for step in steps if step.get("name") == "Build the site")
    out = re.search(r"--out (\S+)", command)
    upload = next(step for step in steps if "upload-pages-artifact" in step.get("uses", ""))
    assert out and upload["with"]["path"] == f"{out.group(1)}/html", (command, upload)
    assert "labkit book" in command and "${{ github.repository }}" in command, command
    assert "deploy-pages" in str(workflow["jobs"]["deploy"]["steps"]), workflow["jobs"]["deploy"]
