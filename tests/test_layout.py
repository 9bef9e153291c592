"""labkit's layout: layered subpackages, no import circles, small modules, one version, keyword APIs."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import labkit

ROOT = Path(labkit.__file__).parent
LAYERS = ("core", "workbook", "models", "compress", "runtimes", "serve", "ops")
TOP_LEVEL = {"__init__", "_lazy", "bench", "check", "data", "exercise", "ledger", "notebook", "verdict"}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_at_module_level(path: Path) -> set[str]:
    """The labkit modules a module imports when it is itself imported (not inside functions)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labkit"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                exists = (ROOT.parent / candidate.replace(".", "/")).with_suffix(".py").exists()
                found.add(candidate if exists else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("labkit")}
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_at_module_level(p) for p in ROOT.rglob("*.py")}


def test_top_level_holds_only_what_a_notebook_types_and_the_layers() -> None:
    modules = {p.stem for p in ROOT.glob("*.py")}
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert modules == TOP_LEVEL, f"top-level modules {sorted(modules)}; expected {sorted(TOP_LEVEL)}"
    assert packages == set(LAYERS), f"subpackages {sorted(packages)}; expected {sorted(LAYERS)}"


def test_every_module_is_reachable_as_an_attribute_without_importing_it() -> None:
    """`labkit.serve.batching` works after a bare `import labkit`: the lazy names come from the folders."""
    for layer in LAYERS:
        package = getattr(labkit, layer)
        expected = {p.stem for p in (ROOT / layer).glob("*.py") if not p.stem.startswith("_")}
        assert expected <= set(dir(package)), (
            f"labkit.{layer} does not offer {sorted(expected - set(dir(package)))}"
        )
    assert {"check", "ledger", "data", "bench", "notebook", *LAYERS} <= set(dir(labkit)), dir(labkit)


def test_lower_layers_do_not_import_the_harness_and_core_imports_no_layer() -> None:
    edges = graph()
    upward = {
        module: sorted(t for t in targets if t.startswith("labkit.workbook"))
        for module, targets in edges.items()
        if module.split(".")[1:2] in (["core"], ["models"], ["compress"], ["runtimes"], ["serve"], ["ops"])
    }
    assert {m: t for m, t in upward.items() if t} == {}, "lower layers import labkit.workbook at import time"
    core = {
        m: sorted(t for t in ts if not t.startswith(("labkit.core", "labkit._lazy")))
        for m, ts in edges.items()
        if ".core" in m
    }
    assert {m: t for m, t in core.items() if t} == {}, f"labkit.core imports other layers: {core}"


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import path that comes back to where it started (depth-first from each module)."""
    found: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        for target in sorted(edges.get(node, ())):
            if target in trail:
                found.append(trail[trail.index(target) :] + [target])
            else:
                visit(target, [*trail, target])

    for start in sorted(edges):
        visit(start, [start])
    return found


def test_no_import_circles() -> None:
    edges = graph()
    assert "labkit.workbook.catalog" in edges["labkit.notebook"], edges["labkit.notebook"]
    found = circles(edges)
    assert found == [], f"{len(found)} import circles among labkit's modules, e.g. {found[:3]}"


def test_a_circle_would_be_found(tmp_path: Path) -> None:
    """The walk is not vacuous: it reads `from labkit.x import module` and reports a -> b -> a."""
    module = tmp_path / "a.py"
    module.write_text("from labkit.workbook import catalog\nfrom labkit.core.paths import REPO_ROOT\n")
    assert imports_at_module_level(module) == {"labkit.workbook.catalog", "labkit.core.paths"}
    assert ["a", "b", "a"] in circles({"a": {"b"}, "b": {"a"}, "c": {"a"}})
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {str(p.relative_to(ROOT.parent)): len(p.read_text().splitlines()) for p in ROOT.rglob("*.py")}
    large = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert large == {}, f"modules over {MAX_LINES} lines: {large}"


def test_one_version_source() -> None:
    project = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"], project.get("version")
    from importlib import metadata

    assert metadata.version("labkit") == labkit.__version__, (metadata.version("labkit"), labkit.__version__)


def test_ruff_enforces_keyword_arguments_after_the_third() -> None:
    settings = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "PLR0917" in settings["select"] and settings["pylint"]["max-positional-args"] == 3, settings
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "PLR0917", str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:]
