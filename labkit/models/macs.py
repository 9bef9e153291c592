"""Exact parameter and multiply-accumulate (MAC) counts of Keras convolutional models (notebook 08).

Counted from each layer's configuration and output shape: what the layer computes per image, biases
and activations excluded (they add, they do not multiply-accumulate). The hand formulas below are the
ones the notebook checks the counts against.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _output_hw(layer: Any) -> tuple[int, int]:
    shape = layer.output_shape
    return int(shape[1]), int(shape[2])


def layer_macs(layer: Any) -> int:
    """MACs one image costs in a Conv2D, DepthwiseConv2D, SeparableConv2D or Dense layer; 0 otherwise."""
    from labkit.models.keras_models import keras

    layers = keras.layers
    if isinstance(layer, layers.SeparableConv2D):
        h, w = _output_hw(layer)
        kh, kw = layer.kernel_size
        cin = int(layer.input_shape[-1])
        depth = cin * layer.depth_multiplier
        return h * w * (kh * kw * depth + depth * layer.filters)
    if isinstance(layer, layers.DepthwiseConv2D):
        h, w = _output_hw(layer)
        kh, kw = layer.kernel_size
        return h * w * kh * kw * int(layer.input_shape[-1]) * layer.depth_multiplier
    if isinstance(layer, layers.Conv2D):
        h, w = _output_hw(layer)
        kh, kw = layer.kernel_size
        return h * w * kh * kw * int(layer.input_shape[-1]) * layer.filters // layer.groups
    if isinstance(layer, layers.Dense):
        return math.prod(int(d) for d in layer.input_shape[1:]) * layer.units
    return 0


def model_macs(model: Any) -> int:
    """Sum of `layer_macs` over a model's layers (nested models included)."""
    total = 0
    for layer in model.layers:
        total += model_macs(layer) if hasattr(layer, "layers") else layer_macs(layer)
    return total


def standard_conv_macs(h: int, w: int, c_in: int, *, c_out: int, k: int = 3) -> int:
    """A k x k convolution producing an h x w x c_out map: every output reads k*k*c_in inputs."""
    return h * w * k * k * c_in * c_out


def separable_conv_macs(h: int, w: int, c_in: int, *, c_out: int, k: int = 3) -> int:
    """Depthwise k x k (one filter per input channel) then a 1x1 pointwise convolution to c_out."""
    return h * w * k * k * c_in + h * w * c_in * c_out


def separable_ratio(c_in: int, c_out: int, k: int = 3) -> float:
    """How many times fewer MACs the separable block needs: k^2 c_out / (k^2 + c_out) when c_in = c_out."""
    return standard_conv_macs(1, 1, c_in, c_out=c_out, k=k) / separable_conv_macs(
        1, 1, c_in, c_out=c_out, k=k
    )


def layer_kind(layer: Any) -> str:
    """'depthwise', 'pointwise' (1x1 convolution), 'standard' (k x k convolution), 'dense' or 'none'."""
    from labkit.models.keras_models import keras

    layers = keras.layers
    if isinstance(layer, layers.SeparableConv2D):
        return "separable"
    if isinstance(layer, layers.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, layers.Conv2D):
        return "pointwise" if tuple(layer.kernel_size) == (1, 1) else "standard"
    if isinstance(layer, layers.Dense):
        return "dense"
    return "none"


def macs_by_kind(model: Any) -> dict[str, int]:
    """A model's MACs split by `layer_kind` (nested models included); kinds without MACs are left out."""
    totals: dict[str, int] = {}
    for layer in model.layers:
        if hasattr(layer, "layers"):
            parts = macs_by_kind(layer)
        else:
            count = layer_macs(layer)
            parts = {layer_kind(layer): count} if count else {}
        for kind, count in parts.items():
            totals[kind] = totals.get(kind, 0) + count
    return totals


def power_law_exponent(xs: Any, ys: Any) -> float:
    """The exponent p of the least-squares fit y ~ c * x**p on log-log axes (2.0 when y grows as x^2)."""
    x, y = np.asarray(xs, dtype=float).ravel(), np.asarray(ys, dtype=float).ravel()
    if x.size != y.size or x.size < 2:
        raise ValueError(f"need at least 2 (x, y) pairs of equal length; got {x.size} and {y.size}.")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a power law is fitted on log axes: every x and y must be positive.")
    if np.ptp(np.log(x)) == 0:
        raise ValueError("the x values must not all be equal.")
    slope, _ = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope)
