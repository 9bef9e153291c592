"""labkit.compress.keras_pruning: the corrected tfmot recipe reaches its target, the original untouched."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from labkit import data  # noqa: E402
from labkit.compress import keras_pruning, sizes  # noqa: E402
from labkit.compress.keras_pruning import tfmot  # noqa: E402
from labkit.models import keras_models  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup():
    digits = data.load_digits28()
    return keras_models.build_mlp(seed=0), digits


def test_prune_reaches_target_and_copies(setup) -> None:
    model, digits = setup
    before = [w.copy() for w in model.get_weights()]
    wrapped = keras_pruning.prune(
        model, digits, target_sparsity=0.6, epochs=2, ramp_fraction=0.5, pruning_frequency=5
    )
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    measured = sizes.sparsity(keras_pruning.kernels(stripped))
    assert abs(measured - 0.6) < 0.01, f"measured sparsity {measured:.4f}, target 0.6"
    unchanged = all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert unchanged, "pruning changed the original model's weights"
    assert len(keras_pruning.h5_bytes(stripped)) == len(keras_pruning.h5_bytes(model)), (
        "stripped HDF5 size differs"
    )
    assert keras_pruning.gzip_size(stripped) < 0.7 * keras_pruning.gzip_size(model), (
        keras_pruning.gzip_size(stripped),
        keras_pruning.gzip_size(model),
    )


def test_prune_named_layers_only(setup) -> None:
    model, digits = setup
    stripped = tfmot.sparsity.keras.strip_pruning(
        keras_pruning.prune(
            model,
            digits,
            target_sparsity=0.5,
            epochs=1,
            ramp_fraction=0.5,
            pruning_frequency=5,
            layers=("dense_1",),
        )
    )
    per_layer = [round(sizes.sparsity([k]), 3) for k in keras_pruning.kernels(stripped)]
    assert per_layer == [0.5, 0.0, 0.0], per_layer


def test_end_step_follows_the_steps_trained(setup) -> None:
    _, digits = setup
    assert keras_pruning.steps_per_epoch(digits, 32) == 36, keras_pruning.steps_per_epoch(digits, 32)
    assert keras_pruning.steps_per_epoch(digits, 1151) == 1
    assert keras_pruning.end_step(36, ramp_fraction=0.5, pruning_frequency=5) == 15, keras_pruning.end_step(
        36, ramp_fraction=0.5, pruning_frequency=5
    )  # 18 rounds down to an update
    assert keras_pruning.end_step(360, ramp_fraction=0.5, pruning_frequency=10) == 180
    assert keras_pruning.end_step(4, ramp_fraction=0.5, pruning_frequency=10) == 10
