"""labkit.ops.registry: unique ids across processes, atomic index, kill -9 mid-save, checksums, aliases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from labkit.models import torch_models  # noqa: E402
from labkit.ops import registry  # noqa: E402


def small_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch_models.MLP(hidden=(8,)).eval()


def test_save_load_list_promote_and_rollback(tmp_path: Path) -> None:
    models = registry.ModelRegistry(tmp_path, "digits")
    first = models.save(small_model(0), metrics={"accuracy": 0.9}, params={"seed": 0})
    second = models.save(small_model(1), metrics={"accuracy": 0.8})
    assert (first, second) == ("v1", "v2"), (first, second)
    x = torch.rand(2, 784)
    with torch.inference_mode():
        same = torch.equal(models.load("v1")(x), small_model(0)(x))
    assert same, "the loaded v1 answers differently from the model saved"
    models.promote("v1")
    models.promote("v2")
    assert models.resolve("champion") == "v2"
    assert models.rollback("champion") == "v1" and models.resolve("champion") == "v1"
    listed = {entry["version"]: entry for entry in models.list()}
    assert listed["v1"]["aliases"] == ["champion"] and listed["v1"]["metrics"] == {"accuracy": 0.9}, listed
    with pytest.raises(ValueError, match="has no earlier version to roll back to"):
        models.rollback("champion")
    with pytest.raises(KeyError, match="no version or alias 'v9'.*known: v1, v2, champion"):
        models.resolve("v9")


def test_a_tampered_artifact_is_refused(tmp_path: Path) -> None:
    models = registry.ModelRegistry(tmp_path)
    version = models.save(small_model())
    target = models.path(version)
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(raw)
    with pytest.raises(
        registry.ChecksumError, match="of version v1 has SHA-256 .* was recorded: the file was changed"
    ):
        models.load(version)


def test_a_corrupted_index_is_a_clear_error(tmp_path: Path) -> None:
    models = registry.ModelRegistry(tmp_path)
    models.save(small_model())
    models.index_path.write_text('{"versions": {', encoding="utf-8")
    with pytest.raises(
        ValueError, match="index.json is not valid JSON .* the version directories are intact"
    ):
        models.list()


SAVER = """
import sys
from pathlib import Path
import torch
from labkit.models import torch_models
from labkit.ops import registry
models = registry.ModelRegistry(Path(sys.argv[1]))
for i in range(3):
    torch.manual_seed(int(sys.argv[2]) * 10 + i)
    models.save(torch_models.MLP(hidden=(8,)), metrics={"writer": int(sys.argv[2]), "i": i})
"""


@pytest.mark.slow
def test_eight_processes_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path), str(w)]) for w in range(8)]
    codes = [w.wait(timeout=300) for w in writers]
    assert codes == [0] * 8, f"writer exit codes {codes}"
    index = json.loads((tmp_path / "index.json").read_text())
    assert sorted(index["versions"], key=lambda v: int(v[1:])) == [f"v{i}" for i in range(1, 25)], index[
        "versions"
    ]
    pairs = sorted((e["metrics"]["writer"], e["metrics"]["i"]) for e in index["versions"].values())
    assert pairs == [(w, i) for w in range(8) for i in range(3)], pairs
    models = registry.ModelRegistry(tmp_path)
    assert all(models.path(v).exists() for v in index["versions"]) and models.problems() == []


KILLED = """
import os, signal, sys
from pathlib import Path
import torch
from labkit.models import torch_models
from labkit.ops import registry

def write_half_then_die(model, kind, target):
    target.write_bytes(b"half a model")
    os.kill(os.getpid(), signal.SIGKILL)

registry._write_model = write_half_then_die
registry.ModelRegistry(Path(sys.argv[1])).save(torch_models.MLP(hidden=(8,)))
"""


def test_a_save_killed_mid_write_loses_nothing_earlier(tmp_path: Path) -> None:
    models = registry.ModelRegistry(tmp_path)
    models.save(small_model(0))
    models.promote("v1")
    killed = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path)], timeout=300)
    assert killed.returncode == -9, f"the saver exited with {killed.returncode}, not killed by SIGKILL"
    assert [e["version"] for e in models.list()] == ["v1"], models.list()
    assert models.resolve("champion") == "v1" and models.load("champion") is not None
    problems = models.problems()
    assert len(problems) == 1 and problems[0].startswith("interrupted save: .staging-v2-"), problems
    assert models.clean() == [problems[0].split(": ")[1]] and models.problems() == []
    assert models.save(small_model(3)) == "v3", "the next save after the crash"


def test_keras_models_are_saved_in_the_native_format(tmp_path: Path) -> None:
    pytest.importorskip("tf_keras")
    import numpy as np

    from labkit.models import keras_models

    model = keras_models.build("mlp", seed=0)
    models = registry.ModelRegistry(tmp_path)
    version = models.save(model, metrics={"accuracy": 0.5})
    assert models.path(version).name == "model.keras", models.path(version)
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    difference = float(np.abs(models.load(version)(x) - model(x)).max())
    assert difference == 0.0, f"the reloaded Keras model differs by {difference}"
