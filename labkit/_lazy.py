"""Lazy submodule access for labkit's packages, so `import labkit` loads no framework."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType

Getattr = Callable[[str], ModuleType]


def submodules(package: str, path: list[str]) -> tuple[Getattr, Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__`: its submodules (found in `path`) load on first access."""
    known = frozenset(info.name for info in pkgutil.iter_modules(path) if not info.name.startswith("_"))

    def getattr_(name: str) -> ModuleType:
        if name in known:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(known | set(vars(importlib.import_module(package))))

    return getattr_, dir_
