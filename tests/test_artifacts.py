"""labkit.models.artifacts: a missing or corrupted baseline is rebuilt, with a message saying so."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from labkit import data  # noqa: E402
from labkit.models import artifacts, torch_models  # noqa: E402

pytestmark = pytest.mark.slow


def test_missing_then_corrupted_artifact_is_rebuilt(capsys: pytest.CaptureFixture[str]) -> None:
    assert artifacts.problem("torch", "mlp") == "mlp.pt is missing"
    model = artifacts.load_torch("mlp")
    out = capsys.readouterr().out
    assert "Artifact mlp.pt is missing: rebuilding the torch MLP as 01_baseline_models does" in out, out
    digits = data.load_digits28()
    accuracy = torch_models.accuracy(model, torch_models.to_tensor(digits.x_test, "mlp"), digits.y_test)
    assert accuracy >= 0.95, f"rebuilt MLP scores {accuracy:.4f}, target 0.95"
    assert artifacts.info("torch", "mlp")["rebuilt"] is True

    path = artifacts.path("torch", "mlp")
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(raw)
    assert "corrupted" in artifacts.problem("torch", "mlp")
    artifacts.load_torch("mlp")
    assert "does not match its recorded SHA-256 (corrupted): rebuilding" in capsys.readouterr().out
    assert artifacts.problem("torch", "mlp") is None


def test_present_artifact_is_used_without_rebuilding(capsys: pytest.CaptureFixture[str]) -> None:
    model = torch_models.build("cnn", seed=1)
    artifacts.save_torch(model, "cnn", {"test_accuracy": 0.0})
    loaded = artifacts.load_torch("cnn")
    assert "rebuilding" not in capsys.readouterr().out
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), f"{name} changed on the round trip"


def test_unknown_artifact_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="allowed: framework 'keras' or 'torch', arch 'mlp' or 'cnn'"):
        artifacts.path("jax", "mlp")


def test_keras_rebuild_is_bit_reproducible() -> None:
    pytest.importorskip("tf_keras")
    import numpy as np

    first = [w.copy() for w in artifacts.load_keras("cnn").get_weights()]
    artifacts.path("keras", "cnn").unlink()
    second = artifacts.load_keras("cnn").get_weights()
    same = all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert same, (
        "two rebuilds of the Keras CNN gave different weights: later notebooks would not rerun the same"
    )


def test_torchscript_export_is_made_when_missing_and_remade_when_corrupted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = torch_models.build("mlp", seed=2).eval()
    artifacts.save_torch(model, "mlp", {"test_accuracy": 0.5})
    script = artifacts.ensure_torchscript("mlp")
    assert "Export mlp.torchscript.pt is missing: scripting the PyTorch MLP" in capsys.readouterr().out
    x = torch.rand(3, 784)
    with torch.inference_mode():
        difference = float((torch.jit.load(str(script))(x) - model(x)).abs().max())
    assert difference == 0.0, f"TorchScript differs from eager by {difference}"
    assert artifacts.ensure_torchscript("mlp") == script and capsys.readouterr().out == ""
    raw = bytearray(script.read_bytes())
    raw[-10] ^= 0xFF
    script.write_bytes(raw)
    artifacts.ensure_torchscript("mlp")
    assert "does not match its recorded SHA-256 (corrupted): scripting" in capsys.readouterr().out
