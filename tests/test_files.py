"""labkit.core.files: atomic writes leave either the old file or the new one, never a partial or a temp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.core import files


def test_write_atomic_and_json(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.json"
    files.write_json(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    files.write_atomic(target, "replaced")
    assert target.read_text() == "replaced"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"], list(target.parent.iterdir())


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="writer crashed"), files.replacing(target) as tmp:
        assert tmp.suffix == ".keras" and tmp.parent == tmp_path, tmp
        tmp.write_text("half")
        raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"], list(tmp_path.iterdir())
