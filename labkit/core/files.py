"""Writes that leave nothing half-done: whole files beside the target then `os.replace`, and appended
lines that either land whole on a line of their own or not at all."""

from __future__ import annotations

import contextlib
import errno
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


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to a file descriptor (os.write may write fewer), or raise the OSError."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_bytes_synced(target: Path, data: bytes) -> None:
    """Write `data` to a new file and fsync it; a failure (a full disk) raises OSError, never aborts."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_line(target: Path, line: bytes) -> None:
    """Append one newline-terminated line, on a line of its own even when the file ends mid-line (a
    killed writer); a failed write (a full disk) is cut off again, so no partial line stays behind."""
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        try:
            write_all(fd, line)
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def not_writable(error: OSError) -> bool:
    """Whether an OSError means the place is read-only or not ours (not a full disk or a bad path)."""
    return error.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
