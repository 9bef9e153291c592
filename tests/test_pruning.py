"""labkit.pruning: the corrected tfmot recipe reaches its target and leaves the original untouched."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from labkit import data, keras_models, pruning, sizes  # noqa: E402
from labkit.pruning import tfmot  # noqa: E402


@pytest.fixture(scope="module")
def setup():
    digits = data.load_digits28()
    return keras_models.build_mlp(seed=0), digits


def test_prune_reaches_target_and_copies(setup) -> None:
    model, digits = setup
    before = [w.copy() for w in model.get_weights()]
    wrapped = pruning.prune(model, digits, 0.6, epochs=2, ramp_fraction=0.5, frequency=5)
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    measured = sizes.sparsity(pruning.kernels(stripped))
    assert abs(measured - 0.6) < 0.01, f"measured sparsity {measured:.4f}, target 0.6"
    unchanged = all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert unchanged, "pruning changed the original model's weights"
    assert len(pruning.h5_bytes(stripped)) == len(pruning.h5_bytes(model)), "stripped HDF5 size differs"
    assert pruning.gzip_size(stripped) < 0.7 * pruning.gzip_size(model), (
        pruning.gzip_size(stripped),
        pruning.gzip_size(model),
    )


def test_prune_named_layers_only(setup) -> None:
    model, digits = setup
    stripped = tfmot.sparsity.keras.strip_pruning(
        pruning.prune(model, digits, 0.5, epochs=1, ramp_fraction=0.5, frequency=5, layers=("dense_1",))
    )
    per_layer = [round(sizes.sparsity([k]), 3) for k in pruning.kernels(stripped)]
    assert per_layer == [0.5, 0.0, 0.0], per_layer


def test_end_step_follows_the_steps_trained(setup) -> None:
    _, digits = setup
    assert pruning.steps_per_epoch(digits, 32) == 36, pruning.steps_per_epoch(digits, 32)
    assert pruning.steps_per_epoch(digits, 1151) == 1
    assert pruning.end_step(36, 0.5, 5) == 15, pruning.end_step(36, 0.5, 5)  # 18 rounds down to an update
    assert pruning.end_step(360, 0.5, 10) == 180
    assert pruning.end_step(4, 0.5, 10) == 10
