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


def test_macs_split_by_kind_and_width_scaling() -> None:
    def net(width: int):
        inputs = keras.Input((8, 8, width))
        x = keras.layers.Conv2D(width, 3, padding="same")(inputs)
        x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
        x = keras.layers.Conv2D(width, 1)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(5)(x))

    split = macs.macs_by_kind(net(16))
    assert split == {
        "standard": 8 * 8 * 9 * 16 * 16,
        "depthwise": 8 * 8 * 9 * 16,
        "pointwise": 8 * 8 * 16 * 16,
        "dense": 16 * 5,
    }, split
    assert sum(split.values()) == macs.model_macs(net(16))
    widths = (8, 16, 32)
    kinds = [macs.macs_by_kind(net(w)) for w in widths]
    for kind, exponent in (("pointwise", 2.0), ("standard", 2.0), ("depthwise", 1.0), ("dense", 1.0)):
        fitted = macs.power_law_exponent(widths, [k[kind] for k in kinds])
        assert fitted == pytest.approx(exponent), (kind, fitted)
    nested = keras.Sequential([keras.Input((8, 8, 16)), net(16)])
    assert macs.macs_by_kind(nested) == split, "a nested model's layers are counted"


def test_power_law_exponent_refuses_what_it_cannot_fit() -> None:
    assert macs.power_law_exponent([1, 2, 4], [3, 12, 48]) == pytest.approx(2.0)
    assert macs.power_law_exponent([0.5, 1.0], [0.5, 1.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2"):
        macs.power_law_exponent([1.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        macs.power_law_exponent([0.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="all be equal"):
        macs.power_law_exponent([2.0, 2.0], [1.0, 3.0])
