"""Faults injected into the ledger and the registry: torn lines, full disks, stray bytes, read-only places,
and saves killed between their steps. Nothing written before a fault may be lost, and nothing partial may
stay behind.

A full disk is a real 2 MiB tmpfs when the tests may mount one (as root); elsewhere `os.write` is patched
to run out of space (ENOSPC) in that directory after a few bytes, a short write first, as a disk does.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import ledger
from labkit.core import paths


def _mount(target: Path, options: str) -> bool:
    """Mount a tmpfs at `target` when allowed (root with the mount capability); False otherwise."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, check=False
    )
    return done.returncode == 0


class Disk:
    """A directory whose disk can be filled up and freed again."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.full = root, False
        self.real = _mount(root, "size=2m")
        self.filler = root / "filler"
        if not self.real:
            real_write = os.write

            def write(fd: int, data: bytes) -> int:
                if self.full and os.readlink(f"/proc/self/fd/{fd}").startswith(str(self.root)):
                    if self.slack <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    written = real_write(fd, bytes(data[: self.slack]))
                    self.slack -= written
                    return written
                return real_write(fd, data)

            monkeypatch.setattr(os, "write", write)

    def fill(self) -> None:
        """Leave no free block: later writes fill what is left of a file's last block, then fail."""
        self.full, self.slack = True, 40
        if self.real:
            fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for size in (65536, 4096, 1):
                    with contextlib.suppress(OSError):
                        while True:
                            os.write(fd, b"\0" * size)
            finally:
                os.close(fd)

    def free(self) -> None:
        self.full = False
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        if self.real:
            subprocess.run(["umount", "-l", str(self.root)], check=False)


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    root = tmp_path / "disk"
    root.mkdir()
    small = Disk(root, monkeypatch)
    try:
        yield small
    finally:
        small.close()


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory nothing can be written into: a read-only tmpfs as root, permissions 0555 otherwise."""
    root = tmp_path / "read-only"
    root.mkdir()
    mounted = _mount(root, "ro,size=64k")
    if not mounted and os.geteuid() == 0:
        real_open = os.open

        def refuse(path: str | os.PathLike, flags: int, *args: object, **kwargs: object) -> int:
            if str(path).startswith(str(root)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    elif not mounted:
        root.chmod(0o555)
    try:
        yield root
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)
        root.chmod(0o755)


def _records_silently() -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return ledger.read()


def test_a_record_after_a_torn_last_line_starts_on_a_line_of_its_own() -> None:
    ledger.record("faults.torn.before", 1.0, "x")
    with open(paths.ledger_path(), "ab") as handle:
        handle.write(b'{"metric": "faults.torn.half", "val')  # a writer killed mid-line
    ledger.record("faults.torn.after", 2.0, "x")
    with pytest.warns(UserWarning, match="line 2 is not valid JSON"):
        metrics = [r["metric"] for r in ledger.read()]
    assert metrics == ["faults.torn.before", "faults.torn.after"], metrics


def test_a_full_disk_loses_only_the_record_it_refused(disk: Disk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_RESULTS_DIR", str(disk.root / "results"))
    ledger.record("faults.disk.first", 1.0, "x")
    disk.fill()
    written = 1
    with pytest.raises(OSError, match=r"ledger.jsonl is full; this record was not written"):
        for i in range(500):  # what is left of the ledger's last block takes a few records
            ledger.record("faults.disk.more", float(i), "x")
            written += 1
    raw = paths.ledger_path().read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == written, (raw[-80:], written)
    disk.free()
    ledger.record("faults.disk.after", 2.0, "x")
    metrics = [r["metric"] for r in _records_silently()]
    assert len(metrics) == written + 1 and metrics[-1] == "faults.disk.after", (len(metrics), written)


def test_a_line_that_is_not_utf8_is_skipped_with_a_warning() -> None:
    ledger.record("faults.bytes.before", 1.0, "x")
    with open(paths.ledger_path(), "ab") as handle:
        handle.write(b'{"metric": "faults.\xff\xfe"}\n')
    ledger.record("faults.bytes.after", 2.0, "x")
    with pytest.warns(UserWarning, match="line 2 is not UTF-8 text"):
        metrics = [r["metric"] for r in ledger.read()]
    assert metrics == ["faults.bytes.before", "faults.bytes.after"], metrics


def test_a_read_only_results_directory_is_one_clear_sentence(
    read_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_RESULTS_DIR", str(read_only / "results"))
    with pytest.raises(OSError) as refused:
        ledger.record("faults.readonly.value", 1.0, "x")
    message = str(refused.value)
    assert str(read_only) in message and "set LABKIT_RESULTS_DIR to a writable directory" in message, message
    assert message.count(". ") == 0 and "\n" not in message, f"more than one sentence: {message!r}"


torch = pytest.importorskip("torch")

from labkit.models import torch_models  # noqa: E402
from labkit.ops import registry  # noqa: E402


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch_models.MLP(hidden=(4,)).eval()


def test_a_save_killed_between_rename_and_index_leaves_an_orphan_that_is_reported_and_cleaned(
    tmp_path: Path,
) -> None:
    script = textwrap.dedent(
        f"""
        import os, torch
        from labkit.models import torch_models
        from labkit.ops import registry
        real, calls = registry.files.write_atomic, []
        def dying(target, payload):
            calls.append(target)
            if len(calls) == 2:  # the index write that would name the new version
                os._exit(9)
            return real(target, payload)
        registry.files.write_atomic = dying
        registry.ModelRegistry({str(tmp_path)!r}).save(torch_models.MLP(hidden=(4,)).eval())
        """
    )
    died = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert died.returncode == 9, died.stderr[-500:]
    models = registry.ModelRegistry(tmp_path)
    assert models.problems() == ["orphan version: versions/v1 is not in the index"], models.problems()
    assert models.clean() == ["versions/v1"]
    assert models.problems() == [] and not (tmp_path / "versions" / "v1").exists()
    assert models.save(_tiny_model()) == "v2" and [v["version"] for v in models.list()] == ["v2"]


def test_a_full_disk_fails_a_torchscript_save_cleanly_and_keeps_the_registry(disk: Disk) -> None:
    models = registry.ModelRegistry(disk.root / "registry")
    assert models.save(_tiny_model(), metrics={"accuracy": 0.5}) == "v1"
    index_before = json.loads(models.index_path.read_text())
    disk.fill()
    with pytest.raises(OSError, match=r"is full; the model was not saved and the registry is unchanged"):
        models.save(_tiny_model())
    assert json.loads(models.index_path.read_text())["versions"] == index_before["versions"]
    assert models.problems() == [], models.problems()
    disk.free()
    models.load("v1")
    saved = models.save(_tiny_model())
    assert [v["version"] for v in models.list()] == ["v1", saved], models.list()
