"""Atomic file writes: write beside the target, then `os.replace`, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it into place on success, delete it on failure.

    For writers that need a path of their own (`model.save`, `torch.save`); the suffix is kept because
    Keras chooses the format from it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: Path, payload: bytes | str) -> Path:
    """Write bytes (or UTF-8 text) to `target` atomically."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    with replacing(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_json(target: Path, payload: Any) -> Path:
    """Write `payload` as indented JSON, atomically."""
    return write_atomic(target, json.dumps(payload, indent=2, sort_keys=True, default=str))
