"""labkit.models.macs: MAC counts of Keras layers against the hand formulas."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from labkit.models import macs  # noqa: E402
from labkit.models.keras_models import keras  # noqa: E402


def block_model(kind: str, channels: int = 64, size: int = 16):
    inputs = keras.Input((size, size, channels))
    if kind == "standard":
        x = keras.layers.Conv2D(channels, 3, padding="same")(inputs)
    elif kind == "separable":
        x = keras.layers.DepthwiseConv2D(3, padding="same")(inputs)
        x = keras.layers.Conv2D(channels, 1)(x)
    else:
        x = keras.layers.SeparableConv2D(channels, 3, padding="same")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def test_counts_match_the_hand_formulas_at_64_channels() -> None:
    dense = 64 * 5
    standard = macs.model_macs(block_model("standard"))
    separable = macs.model_macs(block_model("separable"))
    fused = macs.model_macs(block_model("fused"))
    assert standard == macs.standard_conv_macs(16, 16, 64, c_out=64) + dense == 16 * 16 * 9 * 64 * 64 + dense
    assert (
        separable
        == macs.separable_conv_macs(16, 16, 64, c_out=64) + dense
        == 16 * 16 * (9 * 64 + 64 * 64) + dense
    )
    assert fused == separable, "SeparableConv2D counts as depthwise + pointwise"
    ratio = macs.separable_ratio(64, 64)
    assert ratio == pytest.approx(9 * 64 / (9 + 64)) and 7.0 < ratio < 8.0, ratio


def test_strides_and_layers_without_macs() -> None:
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    model = keras.Model(inputs, keras.layers.MaxPooling2D()(x))
    assert macs.model_macs(model) == 16 * 16 * 9 * 3 * 8, macs.model_macs(model)
