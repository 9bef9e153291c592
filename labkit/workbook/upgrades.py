"""`make upgrade-check`'s verdict: which notebook broke under the newest allowed versions, on which package.

The check installs the newest versions pyproject.toml allows in a scratch environment and runs the series
there; this module compares that environment with the lock file and reads each failed notebook's traceback
for the upgraded packages it passes through (`site-packages/<package>/...`, `No module named ...`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import nbformat

_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MODULES = (
    re.compile(r"site-packages/([A-Za-z0-9_]+)/"),
    re.compile(r"No module named '([A-Za-z0-9_]+)"),
    re.compile(r"cannot import name '[^']+' from '([A-Za-z0-9_]+)"),
)


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions_from_text(text: str) -> dict[str, str]:
    """Distribution name (normalized) -> version pinned, from a pip-compile lock file's text."""
    return {_key(name): version for name, version in _PIN.findall(text)}


def installed_versions() -> dict[str, str]:
    """Distribution name (normalized) -> version installed in this environment."""
    return {_key(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


def upgraded(locked: dict[str, str], installed: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The distributions whose installed version differs from the lock: name -> (locked, installed)."""

    def public(version: str) -> str:  # torch's "+cpu" build label is the same release
        return version.split("+")[0]

    return {
        name: (locked[name], version)
        for name, version in sorted(installed.items())
        if name in locked and public(locked[name]) != public(version)
    }


def error_text(executed: Path) -> str:
    """The tracebacks a failed, executed notebook holds, without terminal colours."""
    nb = nbformat.read(executed, as_version=4)
    traces = [
        "\n".join(out.get("traceback", [])) + f"\n{out.get('ename')}: {out.get('evalue')}"
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    return _ANSI.sub("", "\n".join(traces))


def blame(text: str, changed: dict[str, tuple[str, str]], owners: Mapping[str, list[str]]) -> list[str]:
    """The changed distributions whose modules appear in a traceback, in order of first appearance."""
    named: list[str] = []
    for pattern in _MODULES:
        for module in pattern.findall(text):
            for dist in owners.get(module, [module]):
                if _key(dist) in changed and _key(dist) not in named:
                    named.append(_key(dist))
    return named


def report(lock: Path, results: Path) -> tuple[str, int]:
    """The verdict text for the newest run under `results`, and how many notebooks broke."""
    changed = upgraded(locked_versions_from_text(lock.read_text(encoding="utf-8")), installed_versions())
    runs = sorted((results / "runs").glob("*/summary.json"))
    if not runs:
        return f"no run under {results / 'runs'}: the series did not start.", 1
    summary = json.loads(runs[-1].read_text(encoding="utf-8"))
    owners = metadata.packages_distributions()
    lines = [f"{len(changed)} packages newer than {lock}:"]
    lines += [f"  {name} {old} -> {new}" for name, (old, new) in changed.items()]
    broken = [row for row in summary if row["status"] != "ok"]
    for row in broken:
        executed = runs[-1].parent / f"{row['notebook']}.ipynb"
        suspects = blame(error_text(executed), changed, owners) if executed.exists() else []
        where = ", ".join(f"{s} {changed[s][0]} -> {changed[s][1]}" for s in suspects) or (
            "no upgraded package in its traceback (see the executed notebook)"
        )
        lines.append(f"BROKE {row['notebook']}: {row['error']}\n  on: {where}")
    lines.append(f"{len(summary) - len(broken)} of {len(summary)} notebooks passed with the newest versions.")
    return "\n".join(lines), len(broken)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.workbook.upgrades", description=__doc__)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args(argv)
    text, broken = report(args.lock, args.results)
    print(text)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
