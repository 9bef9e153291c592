"""Magnitude pruning with tensorflow-model-optimization (taught in 02_pruning).

One copy of the pruning recipe: notebook 02 runs it for its lesson and sweep, and notebook 03 runs it
again (with 02's defaults) to quantize a pruned model.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from typing import Any

import tensorflow_model_optimization as tfmot

from labkit.compress import sizes
from labkit.data import Splits
from labkit.models.keras_models import keras, set_seed


def copy_model(model: keras.Model) -> keras.Model:
    """A fresh model with the same architecture and weights: pruning wraps layers in place."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def steps_per_epoch(data: Splits, batch_size: int) -> int:
    return math.ceil(len(data.y_train) / batch_size)


def end_step(total_steps: int, *, ramp_fraction: float, pruning_frequency: int) -> int:
    """Where the sparsity ramp ends: within the steps trained, on a mask-update step.

    tfmot updates masks only every `pruning_frequency` steps, so an end_step between two updates would leave
    the model short of its target; it is rounded down to a multiple of the frequency.
    """
    raw = max(1, round(ramp_fraction * total_steps))
    return max(pruning_frequency, raw // pruning_frequency * pruning_frequency)


def prune(
    model: keras.Model,
    data: Splits,
    *,
    target_sparsity: float,
    epochs: int,
    ramp_fraction: float = 0.5,
    learning_rate: float = 1e-3,
    pruning_frequency: int = 10,
    batch_size: int = 32,
    seed: int = 0,
    layers: tuple[str, ...] | None = None,
    **wrap_kwargs: Any,
) -> keras.Model:
    """Prune a copy of `model` to `target_sparsity` while fine-tuning; return the wrapped model.

    Call `tfmot.sparsity.keras.strip_pruning` on the result before saving or converting it.

    Sparsity ramps from 0 with PolynomialDecay and reaches the target at `end_step`, computed from the
    steps actually trained (a fraction of epochs x steps per epoch), so the last epochs recover at the
    final sparsity. `layers` names the layers to prune (default: all); `wrap_kwargs` go to
    `prune_low_magnitude` (e.g. `sparsity_m_by_n=(2, 4)`).
    """
    set_seed(seed)
    last = end_step(
        epochs * steps_per_epoch(data, batch_size),
        ramp_fraction=ramp_fraction,
        pruning_frequency=pruning_frequency,
    )
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=target_sparsity,
        begin_step=0,
        end_step=last,
        frequency=pruning_frequency,
    )

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        if layers is None or layer.name in layers:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule, **wrap_kwargs)
        return layer

    wrapped = keras.models.clone_model(copy_model(model), clone_function=wrap)
    wrapped.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    wrapped.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(data.x_val, data.y_val),
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        verbose=0,
    )
    return wrapped


def kernels(model: keras.Model) -> list:
    """The dense and conv kernels (the weights pruning acts on; biases are left dense)."""
    return [layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")]


def h5_bytes(model: keras.Model) -> bytes:
    """The model saved as HDF5 without optimizer state, as the TFMOT guide measures size.

    HDF5 stores weights as raw arrays, so gzip sees the zeros; the guide's method is kept on purpose
    although HDF5 is Keras' legacy format (the warning about it is silenced here).
    """
    fd, path = tempfile.mkstemp(suffix=".h5")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with tfmot.sparsity.keras.prune_scope():
                keras.models.save_model(model, path, include_optimizer=False)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.remove(path)


def gzip_size(model: keras.Model) -> int:
    """gzip-compressed bytes of the model's HDF5 file."""
    return sizes.gzip_bytes(h5_bytes(model))
