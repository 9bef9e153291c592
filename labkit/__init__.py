"""labkit: the shared helpers of the AI-engineering workbook.

The top level holds what a notebook cell types most (`check`, `exercise`, `verdict`, `ledger`, `data`,
`bench`, `notebook`);
the subpackages are the layers: `core` (paths, files, the machine, seeds, TensorFlow's environment),
`workbook` (parameters, catalog, runner, CLI, report), `models`, `compress`, `runtimes`, `serve` and `ops`.
`import labkit` stays light (no TensorFlow, no torch): modules load on first attribute access, so
`labkit.ledger.record(...)` works after a bare `import labkit`.
"""

from __future__ import annotations

from labkit._lazy import submodules
from labkit.core import tf_env

__version__ = "0.2.0"

tf_env.configure()

__getattr__, __dir__ = submodules(__name__, __path__)
