"""labkit.compress.torch_compress and torch_models.load_weights: schedules, pruning, sizes, load errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from labkit import data  # noqa: E402
from labkit.compress import sizes, torch_compress  # noqa: E402
from labkit.models import artifacts, torch_models  # noqa: E402


def test_polynomial_sparsity_starts_at_zero_ends_at_target_and_rises() -> None:
    values = [
        torch_compress.polynomial_sparsity(step, target_sparsity=0.8, end_step=100)
        for step in range(0, 121, 10)
    ]
    assert values[0] == 0.0 and values[10] == pytest.approx(0.8) and values[-1] == pytest.approx(0.8), values
    assert all(b >= a for a, b in zip(values, values[1:], strict=False)), values
    assert values[5] > 0.8 * 0.5, f"cubic ramp is past half the target at half the steps: {values[5]}"
    with pytest.raises(ValueError, match="end_step >= 1 and 0 <= target_sparsity < 1"):
        torch_compress.polynomial_sparsity(0, target_sparsity=1.2, end_step=100)


def test_prune_to_reaches_exact_global_sparsity_and_only_adds_zeros() -> None:
    model = torch_models.build("mlp", seed=0)
    total = sum(w.size for w in torch_compress.weights(model))
    torch_compress.prune_to(model, 0.5)
    first = [w == 0 for w in torch_compress.weights(model)]
    torch_compress.prune_to(model, 0.8)
    measured = sizes.sparsity(torch_compress.weights(model))
    assert torch_compress.pruned_count(model) == round(0.8 * total), (
        torch_compress.pruned_count(model),
        total,
    )
    assert measured == pytest.approx(0.8, abs=1e-5), measured
    still_zero = all(
        np.all(w[mask] == 0) for w, mask in zip(torch_compress.weights(model), first, strict=True)
    )
    assert still_zero, "a weight pruned at 50% came back at 80%"


def test_make_permanent_drops_masks_and_keeps_zeros() -> None:
    model = torch_models.build("cnn", seed=0)
    torch_compress.prune_to(model, 0.6)
    assert "features.0.weight_mask" in model.state_dict()
    torch_compress.make_permanent(model)
    keys = set(model.state_dict())
    assert not any(k.endswith(("_mask", "_orig")) for k in keys), sorted(keys)
    assert sizes.sparsity(torch_compress.weights(model)) == pytest.approx(0.6, abs=1e-4)


def test_prune_gradually_trains_to_the_target() -> None:
    digits = data.load_digits28()
    model = torch_models.build("mlp", seed=0)
    history = torch_compress.prune_gradually(
        model, digits, arch="mlp", target_sparsity=0.7, epochs=1, pruning_frequency=5
    )
    torch_compress.make_permanent(model)
    measured = sizes.sparsity(torch_compress.weights(model))
    assert measured == pytest.approx(0.7, abs=1e-4), measured
    assert len(history["loss"]) == 1, history


def test_state_dict_bytes_is_deterministic_and_loads_with_weights_only(tmp_path: Path) -> None:
    model = torch_models.build("mlp", seed=3)
    payload = torch_models.state_dict_bytes(model)
    assert payload == torch_models.state_dict_bytes(model), "two saves of one model differ"
    target = tmp_path / "mlp.pt"
    target.write_bytes(payload)
    loaded = torch_models.load_weights(torch_models.MLP(), target)
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), f"{name} changed on the round trip"


def test_graph_constant_bytes_counts_what_the_graph_reads() -> None:
    model = torch_models.build("cnn", seed=0).eval()
    graph = torch.export.export(model, (torch.zeros(2, 1, 28, 28),)).module()
    expected = sum(t.nbytes for t in model.state_dict().values())
    assert torch_compress.graph_constant_bytes(graph) == expected, (
        torch_compress.graph_constant_bytes(graph),
        expected,
    )


def test_load_weights_names_keys_and_shapes_that_do_not_fit(tmp_path: Path) -> None:
    target = tmp_path / "student.pt"
    target.write_bytes(torch_models.state_dict_bytes(torch_models.MLP(hidden=(24,))))
    with pytest.raises(ValueError) as caught:
        torch_models.load_weights(torch_models.MLP(), target)
    message = str(caught.value)
    assert message.startswith("student.pt does not fit MLP"), message
    assert "'net.0.weight' is [24, 784] in the file but [128, 784] in the model" in message, message
    assert "missing key 'net.4.weight'" in message, message


def test_load_weights_refuses_corrupted_and_non_state_dict_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a zip file at all")
    with pytest.raises(
        ValueError, match=r"broken.pt is not a state dict torch.load\(weights_only=True\) can"
    ):
        torch_models.load_weights(torch_models.MLP(), broken)
    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_only)
    with pytest.raises(ValueError, match="tensor.pt holds a Tensor, not a state dict"):
        torch_models.load_weights(torch_models.MLP(), tensor_only)


def test_mlp_hidden_sizes_give_the_documented_parameter_counts() -> None:
    assert torch_models.count_params(torch_models.MLP()) == 109_386
    assert torch_models.count_params(torch_models.MLP(hidden=(24,))) == 19_090


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_save_export_writes_atomically_with_a_sidecar() -> None:
    model = torch_models.build("mlp", seed=0).eval()
    scripted = torch.jit.script(model)
    target = artifacts.save_export(
        "mlp", "torchscript", lambda p: scripted.save(str(p)), details={"source": "test"}
    )
    sidecar = target.with_suffix(target.suffix + ".json")
    assert target.name == "mlp.torchscript.pt" and sidecar.exists(), target
    assert data.sha256_file(target) in sidecar.read_text(), sidecar.read_text()
    left = sorted(p.name for p in target.parent.iterdir())
    assert left == sorted([target.name, sidecar.name]), f"temporary files left behind: {left}"
    with pytest.raises(ValueError, match="allowed: arch 'mlp' or 'cnn', kind 'torchscript' or 'exported'"):
        artifacts.export_path("mlp", "onnx")


def test_import_torchao_is_quiet_on_a_cpu_torch() -> None:
    code = "from labkit.compress import torch_compress; print(torch_compress.import_torchao().__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Failed to load" not in done.stderr and "KernelPreference" not in done.stderr, done.stderr[-2000:]


def test_profile_operators_counts_every_call_and_nests_children() -> None:
    layer = torch.nn.Linear(16, 4)
    x = torch.randn(2, 16)
    with torch.inference_mode():
        ops = torch_compress.profile_operators(lambda: layer(x), calls=7)
    assert ops["aten::linear"].count == 7, ops.keys()
    assert ops["aten::linear"].total_us >= ops["aten::linear"].self_us >= 0.0
    assert sum(o.self_us for o in ops.values()) <= sum(o.total_us for o in ops.values())
    with pytest.raises(ValueError, match="calls must be >= 1"):
        torch_compress.profile_operators(lambda: None, calls=0)


def test_train_on_a_thread_count_restores_the_previous_one() -> None:
    splits = data.load_digits28()
    before = torch.get_num_threads()
    model = torch_models.build("mlp", seed=0)
    history = torch_models.train(model, splits, arch="mlp", epochs=1, threads=1)
    assert torch.get_num_threads() == before, (torch.get_num_threads(), before)
    assert len(history["loss"]) == 1 and history["val_accuracy"][0] > 0.5, history
    with pytest.raises(ValueError, match="threads must be >= 1"):
        torch_models.train(model, splits, arch="mlp", epochs=1, threads=0)
