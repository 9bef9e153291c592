"""The workbook harness: declared parameters, the series catalog, the runner, the CLI and the report."""

from labkit._lazy import submodules

__getattr__, __dir__ = submodules(__name__, __path__)
