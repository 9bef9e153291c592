"""labkit: the shared helpers of the AI-engineering workbook.

`import labkit` stays light (no TensorFlow, no torch): submodules load on first attribute access,
so `labkit.ledger.record(...)` works after a bare `import labkit`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from labkit import tf_env

__version__ = "0.1.0"

tf_env.configure()

_SUBMODULES = {
    "architecture",
    "artifacts",
    "async_client",
    "async_service",
    "bench",
    "cache",
    "canary",
    "catalog",
    "check",
    "cli",
    "dashboard",
    "data",
    "drift",
    "envinfo",
    "files",
    "keras_models",
    "ledger",
    "litert",
    "mobilenet",
    "monitor",
    "notebook",
    "params",
    "pruning",
    "paths",
    "registry",
    "report",
    "runner",
    "seeding",
    "servers",
    "serving_client",
    "sizes",
    "tf_env",
    "tfserving",
    "torch_compress",
    "torch_models",
    "torchserve",
    "torchserve_handler",
}


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"labkit.{name}")
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
