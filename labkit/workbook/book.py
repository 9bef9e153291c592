"""`labkit book`: the committed, executed notebooks published as a static website, built offline.

Sphinx with myst-nb and sphinx-book-theme (the stack behind Jupyter Book 1) renders the notebooks' committed
outputs without executing anything. The source folder is staged first: every notebook is checked (outputs
present, no error output, the run line that says which run produced them), gets a banner with that run and
its launch links, and the landing page is written from the README's notebook map, grouped by part.
"""

from __future__ import annotations

import io
import re
import shutil
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

import nbformat

from labkit.core import files, paths

# The table of contents: each part and the notebooks (by number) it holds, in reading order.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Start here", ("00", "01")),
    ("Compression", ("02", "03", "04", "05")),
    ("Performance", ("06", "07", "08", "14")),
    ("Serving", ("09", "10", "11", "15")),
    ("Operations", ("12",)),
    ("Case study", ("13",)),
    ("Results", ("99",)),
)
MAX_PAGE_BYTES = 1_500_000
BINDER = "https://mybinder.org/v2/gh"
LAB_URL = "http://localhost:8888/lab/tree"  # `make lab` serves notebooks/ on JupyterLab's default port
_MAP_ROW = re.compile(r"^\| (\d\d) \| \[([^\]]+)\]\(notebooks/([^)]+)\.ipynb\) \| (.+?) \| \w+ \|$")
_RUN_LINE = re.compile(r"^run (\S+) \| (.+)$", re.MULTILINE)
_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


class BookError(ValueError):
    """A notebook or setting the site cannot be built from; the message says which and what to do."""


@dataclass(frozen=True)
class RunInfo:
    """Which run produced a notebook's committed outputs: its id, date and machine."""

    run_id: str
    date: str
    machine: str


@dataclass(frozen=True)
class Lesson:
    """A notebook of the site: its number, stem, title and summary (from the README's map)."""

    number: str
    stem: str
    title: str
    summary: str


def repository_url(override: str | None = None) -> str:
    """The repository the launch links point at: `override`, else pyproject.toml's `[project.urls]`."""
    if override:
        url = override
    else:
        project = tomllib.loads((paths.repo_root() / "pyproject.toml").read_text(encoding="utf-8"))
        url = project.get("project", {}).get("urls", {}).get("Repository", "")
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)/?", url)
    if not match:
        raise BookError(
            f"the repository address {url!r} is not https://github.com/OWNER/REPO; set Repository under "
            "[project.urls] in pyproject.toml or pass --repository."
        )
    return f"https://github.com/{match.group(1)}/{match.group(2)}"


def lessons(readme: Path) -> dict[str, Lesson]:
    """The README's notebook map, number -> lesson."""
    found = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        if match := _MAP_ROW.match(line.strip()):
            number, title, stem, summary = match.groups()
            found[number] = Lesson(number, stem, title, summary)
    return found


def run_info(nb: nbformat.NotebookNode, name: str) -> RunInfo:
    """The run line `labkit.notebook.start` printed (`run ID | Python | CPU | N CPUs | memory | GPU`)."""
    texts = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    match = next((m for text in texts if (m := _RUN_LINE.search(text))), None)
    if match is None:
        raise BookError(
            f"{name} does not say which run produced its outputs (no run line); run `make refresh`."
        )
    run_id, rest = match.groups()
    fields = [f.strip() for f in rest.split("|")]
    gpu = fields[4] if len(fields) > 4 else ""
    machine = ", ".join([*fields[1:3], "no GPU" if gpu.startswith("no GPU") else gpu])
    stamp = re.search(r"(\d{8}-\d{6})", run_id)
    date = datetime.strptime(stamp.group(1), "%Y%m%d-%H%M%S").strftime("%Y-%m-%d") if stamp else "undated"
    return RunInfo(run_id, date, machine.strip(", "))


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


def _banner(lesson: Lesson, run: RunInfo, repo: str) -> str:
    owner_repo = repo.removeprefix("https://github.com/")
    notebook = f"{lesson.stem}.ipynb"
    binder = f"{BINDER}/{owner_repo}/HEAD?urlpath=lab/tree/notebooks/{notebook}"
    return (
        "```{admonition} Run it yourself\n"
        ":class: tip\n\n"
        f"[Launch on Binder]({binder}) · [open in JupyterLab on your machine]({LAB_URL}/{notebook})"
        f" (after `make lab`) · [the notebook on GitHub]({repo}/blob/main/notebooks/{notebook})\n\n"
        f"The outputs on this page come from run `{run.run_id}` ({run.date}, {run.machine}) with the"
        " notebook's default parameters. Run it and the numbers are your machine's.\n"
        "```\n"
    )


def rewrite_links(text: str, source: PurePosixPath, *, staged: set[str], repo: str) -> str:
    """Relative links to files the site does not hold point at the repository instead."""

    def fix(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"^[a-z]+:|^#|^/", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = PurePosixPath(*_normalize(source.parent / path).parts)
        if str(resolved) in staged:
            return match.group(0)
        return f"{match.group(1)}{repo}/blob/main/{resolved}{'#' + anchor if anchor else ''}{match.group(3)}"

    return _LINK.sub(fix, text)


def _normalize(path: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _landing(chosen: dict[str, Lesson], run: RunInfo, repo: str) -> str:
    owner_repo = repo.removeprefix("https://github.com/")
    readme = (paths.repo_root() / "README.md").read_text(encoding="utf-8")
    intro = readme.split("\n\n")[1].strip()
    lines = [
        "# The AI-engineering workbook",
        "",
        intro,
        "",
        f"Every lesson page shows the outputs of one run of the whole series, `{run.run_id}` ({run.date},"
        f" {run.machine}), and links to run it yourself: [on Binder]({BINDER}/{owner_repo}/HEAD?urlpath="
        "lab/tree/notebooks) in the browser, or locally with `make lab` after cloning "
        f"[the repository]({repo}).",
        "",
    ]
    for part, numbers in PARTS:
        lines += [f"## {part}", "", "| # | lesson | what it teaches |", "|---|---|---|"]
        lines += [
            f"| {n} | [{chosen[n].title}](notebooks/{chosen[n].stem}.ipynb) | {chosen[n].summary} |"
            for n in numbers
        ]
        if part == "Results":
            lines.append(
                "| | [the run's report](docs/report.md) | every metric of the run, with its figures |"
            )
        lines += ["", "```{toctree}", ":hidden:", f":caption: {part}", ""]
        lines += [f"notebooks/{chosen[n].stem}" for n in numbers]
        lines += ["docs/report"] if part == "Results" else []
        lines += ["```", ""]
    lines += [
        "## For instructors",
        "",
        "[The instructor guide](docs/instructors.md): every notebook's parameters, running the series for a "
        "class with papermill or `labkit run`, profiles, GPUs, Ray clusters and measured run times.",
        "",
        "```{toctree}",
        ":hidden:",
        ":caption: For instructors",
        "",
        "docs/instructors",
        "```",
        "",
    ]
    return "\n".join(lines)


def stage(source: Path, *, repo: str) -> list[str]:
    """Write the site's source folder; return the staged documents. Raises BookError naming a bad notebook."""
    root = paths.repo_root()
    chosen = lessons(root / "README.md")
    notebooks = {p.stem[:2]: p for p in sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))}
    placed = {n for _, numbers in PARTS for n in numbers}
    for number, path in notebooks.items():
        if number not in placed:
            raise BookError(f"{path.name} is in no part of the site; add it to labkit.workbook.book.PARTS.")
        if number not in chosen or chosen[number].stem != path.stem:
            raise BookError(f"{path.name} has no row in the README's notebook map; add one.")
    missing = sorted(placed - set(notebooks))
    if missing:
        raise BookError(f"the site's parts name notebooks {missing} that notebooks/ does not hold.")
    if source.exists():
        shutil.rmtree(source)
    (source / "notebooks").mkdir(parents=True)
    staged = {f"notebooks/{p.name}" for p in notebooks.values()} | {"docs/instructors.md", "docs/report.md"}
    staged |= {f"docs/report_files/{p.name}" for p in (root / "docs" / "report_files").glob("*.png")}
    runs = {
        n: _stage_notebook(path, chosen[n], source=source, staged=staged, repo=repo)
        for n, path in notebooks.items()
    }
    if len({r.run_id for r in runs.values()}) != 1:
        raise BookError(f"the notebooks come from different runs ({runs}); run `make refresh`.")
    _stage_docs(root / "docs", source / "docs", staged=staged, repo=repo)
    files.write_atomic(source / "index.md", _landing(chosen, runs["99"], repo))
    files.write_atomic(source / "conf.py", _conf(repo))
    return sorted(staged)


def _stage_notebook(path: Path, lesson: Lesson, *, source: Path, staged: set[str], repo: str) -> RunInfo:
    """Check one notebook and write its page's copy: links fixed, the run and launch links under the title."""
    nb = nbformat.read(path, as_version=4)
    check_outputs(nb, path.name)
    run = run_info(nb, path.name)
    nb.metadata.pop("widgets", None)  # no widget is displayed; its saved state would pull widget JS
    here = PurePosixPath("notebooks", path.name)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, here, staged=staged, repo=repo)
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown" or not first.source.startswith("# "):
        raise BookError(f"{path.name} does not start with a markdown cell holding its title (# ...).")
    title, _, rest = first.source.partition("\n")
    first.source = f"{title}\n\n{_banner(lesson, run, repo)}\n{rest}"
    files.write_atomic(source / "notebooks" / path.name, nbformat.writes(nb))
    return run


def _stage_docs(docs: Path, target: Path, *, staged: set[str], repo: str) -> None:
    """The instructor guide and the run's report (with its figures), links fixed."""
    for name in ("instructors.md", "report.md"):
        if not (docs / name).is_file():
            raise BookError(f"docs/{name} is missing; run `make refresh` to publish the run's report.")
        text = (docs / name).read_text(encoding="utf-8")
        text = rewrite_links(text, PurePosixPath("docs", name), staged=staged, repo=repo)
        files.write_atomic(target / name, text)
    shutil.copytree(docs / "report_files", target / "report_files")


def _conf(repo: str) -> str:
    settings = {
        "project": "The AI-engineering workbook",
        "author": "the workbook's authors",
        "extensions": ["myst_nb"],
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "html_theme": "sphinx_book_theme",
        "html_title": "The AI-engineering workbook",
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_theme_options": {
            "repository_url": repo,
            "repository_branch": "main",
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
        images = {src for src in re.findall(r'<img[^>]+src="([^"]+)"', text) if "://" not in src}
        size = page.stat().st_size
        size += sum((page.parent / src).stat().st_size for src in images if (page.parent / src).is_file())
        weights[str(page.relative_to(html))] = size
    return weights


def build(out: Path | None = None, *, repository: str | None = None) -> tuple[Path, float]:
    """Stage and build the site into `out` (default results/book); return the HTML folder and seconds."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    started = time.perf_counter()
    out = out or paths.results_dir() / "book"
    repo = repository_url(repository)
    source, html = out / "source", out / "html"
    stage(source, repo=repo)
    shutil.rmtree(html, ignore_errors=True)
    warnings = io.StringIO()
    with docutils_namespace():
        app = Sphinx(
            str(source),
            str(source),
            str(html),
            str(out / "doctrees"),
            "html",
            status=None,
            warning=warnings,
            freshenv=True,
            parallel=2,
        )
        app.build()
    warned = [line.strip() for line in warnings.getvalue().splitlines() if line.strip()]
    if warned:
        raise BookError(f"Sphinx warned while building the site: {' | '.join(warned[:5])}")
    heavy = {page: size for page, size in page_weights(html).items() if size > MAX_PAGE_BYTES}
    if heavy:
        raise BookError(f"pages over {MAX_PAGE_BYTES / 1e6:.1f} MB (HTML and images): {heavy}; shrink them.")
    return html, time.perf_counter() - started
