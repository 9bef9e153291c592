"""Lazy submodule access for labkit's packages, so `import labkit` loads no framework."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType


def submodules(
    package: str, names: Iterable[str]
) -> tuple[Callable[[str], ModuleType], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__` that import the named submodules on first access."""
    known = frozenset(names)

    def getattr_(name: str) -> ModuleType:
        if name in known:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(known | set(vars(importlib.import_module(package))))

    return getattr_, dir_
