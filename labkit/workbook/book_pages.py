"""The website's pages made from the repository: the parts, the landing page and each lesson's banner.

The landing page comes from the README's notebook map (its "what it teaches" column) and each notebook's own
title; the banner under a lesson's title links to running it and names the run its outputs come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import nbformat

# The table of contents: each part and the notebooks (by number) it holds. Read in order, the parts list
# the notebooks in their numeric order, the order of each notebook's own Previous and Next links.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Start here", ("00", "01")),
    ("Compression", ("02", "03", "04", "05")),
    ("Performance", ("06", "07", "08")),
    ("Serving", ("09", "10", "11")),
    ("Operations", ("12",)),
    ("Case study", ("13",)),
    ("Runtimes and scale", ("14", "15")),
    ("Results", ("99",)),
)
BINDER = "https://mybinder.org/v2/gh"
BRANCH = "main"
LAB_URL = "http://localhost:8888/lab/tree"  # `make lab` serves notebooks/ on JupyterLab's default port
_MAP_ROW = re.compile(r"^\| (\d\d) \| \[[^\]]+\]\(notebooks/([^)]+)\.ipynb\) \| (.+?) \| \w+ \|$")
_RUN_LINE = re.compile(r"^run (\S+) \| (.+)$", re.MULTILINE)


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
    """A row of the README's notebook map: the notebook's number, file stem and what it teaches."""

    number: str
    stem: str
    summary: str


def lessons(readme: str) -> dict[str, Lesson]:
    """The README's notebook map, number -> lesson."""
    found = {}
    for line in readme.splitlines():
        if match := _MAP_ROW.match(line.strip()):
            number, stem, summary = match.groups()
            found[number] = Lesson(number, stem, summary)
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


def notebook_title(nb: nbformat.NotebookNode, name: str) -> str:
    """The title of a notebook's first cell (`# 03 · Quantization` gives `Quantization`)."""
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown" or not first.source.startswith("# "):
        raise BookError(f"{name} does not start with a markdown cell holding its title (# ...).")
    return re.sub(r"^\d\d\s*·\s*", "", first.source.partition("\n")[0][2:].strip())


def banner(stem: str, run: RunInfo, repo: str) -> str:
    """The box under a lesson's title: where to run it, and which run produced the outputs shown."""
    owner_repo = repo.removeprefix("https://github.com/")
    notebook = f"{stem}.ipynb"
    return (
        "```{admonition} Run it yourself\n"
        ":class: tip\n\n"
        f"[On Binder]({BINDER}/{owner_repo}/{BRANCH}?urlpath=lab/tree/notebooks/{notebook})"
        f" · [in JupyterLab on your machine]({LAB_URL}/{notebook}) (after `make lab`, on its default port)"
        f" · [on GitHub]({repo}/blob/{BRANCH}/notebooks/{notebook})\n\n"
        f"The outputs below come from run `{run.run_id}` ({run.date}, {run.machine}): default parameters,"
        " with the reference solutions applied, so every exercise shows PASS. In your run the exercises wait"
        " for your answers.\n"
        "```\n"
    )


def landing(
    chosen: dict[str, Lesson], *, titles: dict[str, str], readme: str, run: RunInfo, repo: str
) -> str:
    """The landing page: what the course is, how to start, and one table per part (notebooks' own titles)."""
    owner_repo = repo.removeprefix("https://github.com/")
    lines = [
        "# Welcome to the AI-engineering workbook",
        "",
        readme.split("\n\n")[1].strip(),  # the README's opening paragraph
        "",
        "The series starts from a Chinese-language tutorial on AI engineering, called *the source article* in"
        " the lessons. Its code has real mistakes: each lesson runs them as written, measures what goes wrong"
        " and fixes it.",
        "",
        "## How to start",
        "",
        "Read a lesson here with its outputs, then run it. The box under each lesson's title opens the"
        f" notebook [on Binder]({BINDER}/{owner_repo}/{BRANCH}?urlpath=lab/tree/notebooks) (nothing to"
        " install), in JupyterLab on your machine, or on GitHub. To work locally, clone"
        f" [the repository]({repo}) and run `make lab`: `make` installs the locked environment itself (Linux"
        " x86-64 with Python 3.11; the repository's README says how to install elsewhere).",
        "",
        "Begin with 00, which checks that your machine can run the series, and 01, which trains the models"
        " the later lessons compress and serve. Every notebook also runs on its own: a model an earlier"
        " notebook saves is rebuilt, with a message, when it is missing.",
        "",
        f"The outputs on these pages come from one run of the whole series, `{run.run_id}` ({run.date},"
        f" {run.machine}).",
        "",
    ]
    for part, numbers in PARTS:
        lines += [f"## {part}", "", "| # | lesson | what it teaches |", "|---|---|---|"]
        lines += [
            f"| {n} | [{titles[n]}](notebooks/{chosen[n].stem}.ipynb) | {chosen[n].summary} |"
            for n in numbers
        ]
        if part == "Results":
            lines.append(
                "| | [Workbook results](docs/report.md) | the run's report: every metric and figure |"
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
