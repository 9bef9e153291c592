"""`labkit book`: the committed, executed notebooks published as a static website, built offline.

Sphinx with myst-nb and sphinx-book-theme (the stack behind Jupyter Book 1) renders the notebooks' committed
outputs without executing anything. The source folder is staged first: every notebook is checked (outputs
present, no error output, the run line that says which run produced them), gets a banner with that run and
its launch links, and the landing page is written from the README's notebook map, grouped by part.
"""

from __future__ import annotations

import io
import posixpath
import re
import shutil
import time
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import nbformat

from labkit.core import files, paths
from labkit.workbook.book_pages import (
    BRANCH,
    PARTS,
    BookError,
    RunInfo,
    banner,
    landing,
    lessons,
    notebook_title,
    run_info,
)

MAX_PAGE_BYTES = 1_500_000
INSTALL_HINT = "`make book` installs the locked environment (or: pip install -e '.[docs]')."
NBVAL_MARK = "# NBVAL_CHECK_OUTPUT"  # tells nbval to compare the cell's output; nothing for a reader
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
    'fill="#2b6cb0"/><text x="16" y="22" font-family="sans-serif" font-size="15" font-weight="bold" '
    'fill="#fff" text-anchor="middle">AI</text></svg>\n'
)
_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def repository_url(override: str | None = None) -> str:
    """The repository the launch links point at: `override`, else pyproject.toml's `[project.urls]`."""
    if override:
        url = override
    else:
        project = tomllib.loads((paths.repo_root() / "pyproject.toml").read_text(encoding="utf-8"))
        url = project.get("project", {}).get("urls", {}).get("Repository", "")
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url)
    if not match:
        raise BookError(
            f"the repository address {url!r} is not https://github.com/OWNER/REPO; set Repository under "
            "[project.urls] in pyproject.toml or pass --repository."
        )
    return f"https://github.com/{match.group(1)}/{match.group(2)}"


def check_outputs(nb: nbformat.NotebookNode, name: str) -> None:
    """Refuse a notebook that was never executed or that shows an error."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not any(c.get("outputs") for c in code):
        raise BookError(f"{name} has no outputs; execute the series with `make refresh` and build again.")
    for number, cell in enumerate(code, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise BookError(
                    f"{name} shows an error output in code cell {number} ({output.get('ename')}: "
                    f"{output.get('evalue')}); fix the notebook and run `make refresh` before building."
                )


def rewrite_links(text: str, source: PurePosixPath, *, staged: set[str], repo: str) -> str:
    """Relative links to files the site does not hold point at the repository instead: inline Markdown
    links `[text](path)` only (no titles, reference definitions or raw HTML), which is all the sources use."""

    def fix(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"^[a-z]+:|^#|^/", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = PurePosixPath(posixpath.normpath(source.parent / path))
        if str(resolved) in staged:
            return match.group(0)
        return (
            f"{match.group(1)}{repo}/blob/{BRANCH}/{resolved}{'#' + anchor if anchor else ''}{match.group(3)}"
        )

    return _LINK.sub(fix, text)


def stage(source: Path, *, repo: str) -> None:
    """Write the site's source folder; BookError names a notebook or file it cannot be built from."""
    root = paths.repo_root()
    readme = (root / "README.md").read_text(encoding="utf-8")
    chosen = lessons(readme)
    found = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    notebooks = {p.stem[:2]: p for p in found}
    if len(notebooks) != len(found):
        raise BookError(f"two notebooks share a number in {[p.name for p in found]}; renumber one.")
    order = [n for _, numbers in PARTS for n in numbers]
    if order != sorted(order):
        raise BookError(f"PARTS lists the notebooks as {order}; keep their numeric order (Previous/Next).")
    for number, path in notebooks.items():
        if number not in order:
            raise BookError(f"{path.name} is in no part of the site; add it to book_pages.PARTS.")
        if number not in chosen:
            raise BookError(f"{path.name} has no row in the README's notebook map; add one.")
        if chosen[number].stem != path.stem:
            raise BookError(f"the README's map row {number} links {chosen[number].stem}, not {path.stem}.")
    missing = sorted(set(order) - set(notebooks))
    if missing:
        raise BookError(f"the site's parts name notebooks {missing} that notebooks/ does not hold.")
    if source.exists():
        shutil.rmtree(source)
    (source / "notebooks").mkdir(parents=True)
    staged = {f"notebooks/{p.name}" for p in notebooks.values()} | {"docs/instructors.md", "docs/report.md"}
    staged |= {f"docs/report_files/{p.name}" for p in (root / "docs" / "report_files").glob("*.png")}
    runs, titles = {}, {}
    for number, path in notebooks.items():
        runs[number], titles[number] = _stage_notebook(path, source=source, staged=staged, repo=repo)
    if len({r.run_id for r in runs.values()}) != 1:
        ids = sorted({r.run_id for r in runs.values()})
        raise BookError(f"the notebooks come from {len(ids)} runs ({', '.join(ids)}); run `make refresh`.")
    _stage_docs(root / "docs", source / "docs", staged=staged, repo=repo)
    files.write_atomic(
        source / "index.md", landing(chosen, titles=titles, readme=readme, run=runs["99"], repo=repo)
    )
    files.write_atomic(source / "_static" / "favicon.svg", FAVICON)
    files.write_atomic(source / "conf.py", _conf(repo))


def _stage_notebook(path: Path, *, source: Path, staged: set[str], repo: str) -> tuple[RunInfo, str]:
    """Check one notebook and write its page's copy: the run and launch links under the title, links to
    files outside the site pointed at the repository, solutions folded, nbval's output marker dropped."""
    nb = nbformat.read(path, as_version=4)
    check_outputs(nb, path.name)
    run, title = run_info(nb, path.name), notebook_title(nb, path.name)
    nb.metadata.pop("widgets", None)  # no widget is displayed; its saved state would pull widget JS
    here = PurePosixPath("notebooks", path.name)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, here, staged=staged, repo=repo)
        elif "solution" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata["tags"], "hide-cell"]  # folded, as in JupyterLab
        lines = cell.source.splitlines()
        if cell.cell_type == "code" and NBVAL_MARK in lines:
            cell.source = "\n".join(line for line in lines if line != NBVAL_MARK)
    heading, _, rest = nb.cells[0].source.partition("\n")
    nb.cells[0].source = f"{heading}\n\n{banner(path.stem, run, repo)}\n{rest}"
    files.write_atomic(source / "notebooks" / path.name, nbformat.writes(nb))
    return run, title


def _stage_docs(docs: Path, target: Path, *, staged: set[str], repo: str) -> None:
    """The instructor guide and the run's report (with its figures), links fixed."""
    if not (docs / "instructors.md").is_file():
        raise BookError("docs/instructors.md is missing; restore it from the repository.")
    if not (docs / "report.md").is_file() or not (docs / "report_files").is_dir():
        raise BookError("docs/report.md or docs/report_files/ is missing; `make refresh` publishes them.")
    for name in ("instructors.md", "report.md"):
        text = (docs / name).read_text(encoding="utf-8")
        files.write_atomic(
            target / name, rewrite_links(text, PurePosixPath("docs", name), staged=staged, repo=repo)
        )
    for figure in sorted((docs / "report_files").glob("*.png")):
        files.write_atomic(target / "report_files" / figure.name, figure.read_bytes())


def _conf(repo: str) -> str:
    settings = {
        "project": "The AI-engineering workbook",
        "author": "the workbook's authors",
        "extensions": ["myst_nb"],
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "html_theme": "sphinx_book_theme",
        "html_title": "The AI-engineering workbook",
        "html_static_path": ["_static"],
        "html_favicon": "_static/favicon.svg",  # declared, so no browser asks for a missing /favicon.ico
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_theme_options": {
            "repository_url": repo,
            "repository_branch": BRANCH,
            "path_to_docs": "",
            "use_repository_button": True,
            "use_download_button": False,  # the banner links each notebook's file on GitHub
            "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
            "show_toc_level": 2,
        },
        "html_context": {"default_mode": "auto"},  # light or dark as the reader's system says
        "nb_execution_mode": "off",  # the committed outputs, never re-executed
        "nb_merge_streams": True,
        "myst_heading_anchors": 3,
        "suppress_warnings": ["mystnb.unknown_mime_type"],
    }
    lines = ['"""Generated by `labkit book`; edit labkit/workbook/book.py instead."""', ""]
    return "\n".join([*lines, *(f"{key} = {value!r}" for key, value in settings.items())]) + "\n"


def pages(html: Path) -> list[Path]:
    """The site's pages (the theme's HTML fragments under _static are not pages)."""
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.relative_to(html).parts)


def page_weights(html: Path) -> dict[str, int]:
    """Bytes of each page: its HTML and the images it shows (the theme's shared files aside)."""
    weights = {}
    for page in pages(html):
        text = page.read_text(encoding="utf-8")
        sources = re.findall(r'<img[^>]+src="([^"]+)"', text)
        files_shown = {page.parent / unquote(src) for src in sources if not re.match(r"^[a-z]+:", src)}
        size = page.stat().st_size + sum(len(src) for src in sources if src.startswith("data:"))
        size += sum(path.stat().st_size for path in files_shown if path.is_file())
        weights[str(page.relative_to(html))] = size
    return weights


def build(out: Path | None = None, *, repository: str | None = None) -> tuple[Path, float]:
    """Stage and build the site into `out` (default results/book); return the HTML folder and seconds."""
    try:
        from sphinx.application import Sphinx
        from sphinx.errors import SphinxError
        from sphinx.util.docutils import docutils_namespace
    except ModuleNotFoundError:
        raise BookError(f"Sphinx is not installed; {INSTALL_HINT}") from None
    started = time.perf_counter()
    out = out or paths.results_dir() / "book"
    repo = repository_url(repository)
    source, html = out / "source", out / "html"
    stage(source, repo=repo)
    shutil.rmtree(html, ignore_errors=True)
    warnings = io.StringIO()
    try:
        with docutils_namespace():
            # parallel=1: no fork, since a forked child of a process holding TensorFlow can crash.
            app = Sphinx(
                str(source),
                str(source),
                str(html),
                str(out / "doctrees"),
                "html",
                status=None,
                warning=warnings,
                freshenv=True,
                parallel=1,
            )
            app.build()
    except SphinxError as error:  # a theme or extension missing or broken
        raise BookError(f"Sphinx could not build the site ({error}); {INSTALL_HINT}") from None
    warned = [line.strip() for line in warnings.getvalue().splitlines() if line.strip()]
    if warned:
        raise BookError(f"Sphinx warned while building the site: {' | '.join(warned[:5])}")
    heavy = {page: size for page, size in page_weights(html).items() if size > MAX_PAGE_BYTES}
    if heavy:
        raise BookError(f"pages over {MAX_PAGE_BYTES / 1e6:.1f} MB (HTML and images): {heavy}; shrink them.")
    return html, time.perf_counter() - started
