"""A model registry on the file system (notebook 12): versions, checksums, aliases and rollback.

Version ids come from a counter taken under a file lock; a model is staged, hashed (SHA-256), then renamed
into place and entered in the index (rewritten atomically) under that lock; `load` verifies the checksum
first. An interrupted save leaves a staging directory or, killed between the two steps, an orphan version
directory: `problems` reports both and `clean` removes them.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock

from labkit import data
from labkit.core import files

FORMATS = {"keras": "model.keras", "torchscript": "model.torchscript.pt"}


class ChecksumError(ValueError):
    """A registered file no longer matches the SHA-256 recorded when it was saved."""


def _framework(model: Any) -> str:
    module = type(model).__module__
    if module.startswith("torch"):
        return "torchscript"
    if module.startswith(("keras", "tf_keras", "tensorflow")):
        return "keras"
    import torch

    if isinstance(model, torch.nn.Module):
        return "torchscript"
    raise TypeError(
        f"cannot save a {type(model).__name__}: the registry takes Keras models and torch modules."
    )


def _write_model(model: Any, kind: str, target: Path) -> None:
    """Keras saves itself; TorchScript is serialized to memory and written here, because
    `ScriptModule.save` aborts the whole process (a C++ exception) when the disk is full."""
    if kind == "keras":
        model.save(str(target))
        return
    import torch

    from labkit.models import torch_models

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch_models.script(model), buffer)
    files.write_bytes_synced(target, buffer.getvalue())


class ModelRegistry:
    """Versions of one model under `root`: `index.json`, `index.lock`, `versions/<id>/`."""

    def __init__(self, root: Path, name: str = "model") -> None:
        self.root, self.name = Path(root), name
        self.versions_dir = self.root / "versions"
        self.index_path = self.root / "index.json"
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(self.root / "index.lock"), timeout=60)

    def _read(self) -> dict[str, Any]:
        if not self.index_path.exists():
            return {"name": self.name, "next": 1, "versions": {}, "aliases": {}}
        try:
            return json.loads(self.index_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{self.index_path} is not valid JSON ({error.msg}); restore it from a backup, "
                "the version directories are intact."
            ) from None

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        """The index, locked for a read-modify-write; written back atomically when the block ends."""
        with self.lock:
            index = self._read()
            yield index
            files.write_atomic(self.index_path, json.dumps(index, indent=2, sort_keys=True))

    def save(
        self, model: Any, metrics: dict[str, float] | None = None, params: dict[str, Any] | None = None
    ) -> str:
        """Register a new version of `model` with its metrics and parameters; returns its id (`v3`).

        On a full disk it raises an OSError that says so, and the registry is left as it was.
        """
        kind = _framework(model)
        try:
            return self._save(model, kind, metrics=metrics or {}, params=params or {})
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            raise OSError(
                error.errno,
                f"the disk holding {self.root} is full; the model was not saved and the registry is "
                "unchanged: free some space and save again.",
            ) from None

    def _save(self, model: Any, kind: str, *, metrics: dict[str, float], params: dict[str, Any]) -> str:
        with self._editing() as index:
            number = index["next"]
            index["next"] = number + 1
        version = f"v{number}"
        staging = self.versions_dir / f".staging-{version}-{os.getpid()}"
        staging.mkdir()
        try:
            _write_model(model, kind, staging / FORMATS[kind])
            sha256 = data.sha256_file(staging / FORMATS[kind])
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        entry = {
            "file": f"versions/{version}/{FORMATS[kind]}",
            "format": kind,
            "sha256": sha256,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "created_ns": time.time_ns(),
            "metrics": metrics,
            "params": params,
        }
        target = self.versions_dir / version
        with self.lock:
            staging.rename(target)
            try:
                with self._editing() as index:
                    index["versions"][version] = entry
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
        return version

    def list(self) -> list[dict[str, Any]]:
        """Every version in save order, with its aliases."""
        index = self._read()
        aliases: dict[str, list[str]] = {}
        for alias, history in index["aliases"].items():
            if history:
                aliases.setdefault(history[-1], []).append(alias)
        ordered = sorted(index["versions"].items(), key=lambda item: int(item[0][1:]))
        return [{"version": v, **entry, "aliases": sorted(aliases.get(v, []))} for v, entry in ordered]

    def resolve(self, ref: str) -> str:
        """A version id from an id or an alias."""
        index = self._read()
        if ref in index["versions"]:
            return ref
        history = index["aliases"].get(ref)
        if history:
            return str(history[-1])
        known = sorted(index["versions"], key=lambda v: int(v[1:])) + sorted(index["aliases"])
        raise KeyError(f"no version or alias {ref!r} in {self.root}; known: {', '.join(known) or 'none'}.")

    def path(self, ref: str) -> Path:
        """The model file of a version (or alias), after checking its SHA-256."""
        version = self.resolve(ref)
        entry = self._read()["versions"][version]
        target = self.root / entry["file"]
        if not target.exists():
            raise FileNotFoundError(
                f"{target} of version {version} is missing; restore it or save the model again."
            )
        actual = data.sha256_file(target)
        if actual != entry["sha256"]:
            raise ChecksumError(
                f"{target.name} of version {version} has SHA-256 {actual[:12]}... but "
                f"{entry['sha256'][:12]}... was recorded: the file was changed or corrupted; "
                "restore it or save the model again."
            )
        return target

    def load(self, ref: str) -> Any:
        """The model of a version or alias, refused with ChecksumError when its file was altered."""
        target = self.path(ref)
        if target.suffix == ".keras":
            from labkit.models.keras_models import keras

            return keras.models.load_model(target)
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(target))

    def promote(self, version: str, alias: str = "champion") -> None:
        """Point `alias` at `version` (remembering where it pointed, for rollback)."""
        version = self.resolve(version)
        with self._editing() as index:
            history = index["aliases"].setdefault(alias, [])
            if not history or history[-1] != version:
                history.append(version)

    def rollback(self, alias: str = "champion") -> str:
        """Move `alias` back to the version it pointed at before; returns that version."""
        with self._editing() as index:
            history = index["aliases"].get(alias, [])
            if len(history) < 2:
                raise ValueError(
                    f"alias {alias!r} has no earlier version to roll back to (history: {history})."
                )
            history.pop()
            return str(history[-1])

    def remove_alias(self, alias: str) -> None:
        with self._editing() as index:
            index["aliases"].pop(alias, None)

    def _orphans(self) -> builtins.list[Path]:
        """Version directories the index does not name: a save killed between rename and index entry."""
        known = set(self._read()["versions"])
        found = [p for p in self.versions_dir.glob("v*") if p.is_dir() and p.name[1:].isdigit()]
        return sorted(p for p in found if p.name not in known)

    def problems(self) -> builtins.list[str]:
        """Leftovers of interrupted saves (staging and orphan version directories), and versions in the
        index without a file."""
        found = [f"interrupted save: {p.name}" for p in self.versions_dir.glob(".staging-*")]
        with self.lock:
            found += [f"orphan version: versions/{p.name} is not in the index" for p in self._orphans()]
        for version, entry in self._read()["versions"].items():
            if not (self.root / entry["file"]).exists():
                found.append(f"{version}: {entry['file']} is missing")
        return found

    def clean(self) -> builtins.list[str]:
        """Remove staging directories whose saving process is gone (not a save in progress) and orphan
        version directories (a save enters its version under the lock held here, so none is in progress)."""
        removed = []
        for staging in self.versions_dir.glob(".staging-*"):
            if not psutil.pid_exists(int(staging.name.rsplit("-", 1)[1])):
                shutil.rmtree(staging)
                removed.append(staging.name)
        with self.lock:
            for orphan in self._orphans():
                shutil.rmtree(orphan)
                removed.append(f"versions/{orphan.name}")
        return removed
