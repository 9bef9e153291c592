"""Running .tflite models with LiteRT (`ai_edge_litert`), inputs and outputs (de)quantized correctly.

`tf.lite.Interpreter` is deprecated in favour of `ai_edge_litert.interpreter.Interpreter`. A full-integer
model with uint8/int8 input expects `q = round(x / scale) + zero_point`; its output means
`(q - zero_point) * scale`. Taught in 03_quantization.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from labkit.core.tf_env import quiet

VARIANTS = ("float32", "dynamic", "float16", "int8")


def quantize(x: np.ndarray, scale: float, zero_point: int, *, dtype: np.dtype) -> np.ndarray:
    """Real values to integers of `dtype` with the tensor's scale and zero point (rounded, clipped)."""
    if scale <= 0:
        raise ValueError(f"quantization scale must be positive, got {scale}.")
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integers back to real values: (q - zero_point) * scale, as float32."""
    return ((np.asarray(q, dtype=np.int64) - zero_point) * scale).astype(np.float32)


class LiteRTModel:
    """A .tflite model in a LiteRT interpreter, called with float inputs whatever its input type."""

    def __init__(self, model_content: bytes, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        with quiet():  # XNNPACK announces itself on stderr
            self.interpreter = Interpreter(model_content=model_content, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = int(self.input["shape"][0])
        with quiet():
            self.interpreter.allocate_tensors()

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input["dtype"])

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            shape = [batch, *self.input["shape"][1:]]
            self.interpreter.resize_tensor_input(self.input["index"], shape)
            with quiet():
                self.interpreter.allocate_tensors()
            self._batch = batch

    def set_raw_input(self, x: np.ndarray) -> None:
        """Size the input tensor for this batch and set it as given, without any conversion."""
        self._resize(len(x))
        self.interpreter.set_tensor(self.input["index"], x)

    def set_input(self, x: np.ndarray) -> None:
        """Set a float batch as input, quantized with the input's scale and zero point when it is integer.

        Benchmarks call this once and then time `interpreter.invoke()` alone.
        """
        x = np.asarray(x, dtype=np.float32)
        if np.issubdtype(self.input_dtype, np.integer):
            scale, zero_point = self.input["quantization"]
            x = quantize(x, scale, zero_point, dtype=self.input_dtype)
        self.set_raw_input(x)

    def output_tensor(self) -> np.ndarray:
        return self.interpreter.get_tensor(self.output["index"])

    def invoke_raw(self, x: np.ndarray) -> np.ndarray:
        """Set the input tensor as given (no conversion), invoke, return the raw output tensor."""
        self.set_raw_input(x)
        self.interpreter.invoke()
        return self.output_tensor()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float outputs for float inputs: quantize the input and dequantize the output when needed."""
        self.set_input(x)
        self.interpreter.invoke()
        out = self.output_tensor()
        if np.issubdtype(out.dtype, np.integer):
            scale, zero_point = self.output["quantization"]
            out = dequantize(out, scale, zero_point)
        return out

    def accuracy(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128) -> float:
        """Top-1 accuracy, evaluated in batches."""
        predictions = [self.predict(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
        return float(np.mean(np.concatenate(predictions) == y))


def convert(
    model: Any, variant: str, representative: Callable[[], Iterable[list[np.ndarray]]] | None = None
) -> bytes:
    """A .tflite flatbuffer of a Keras model or a SavedModel directory: float32, dynamic, float16, or full
    int8 with uint8 I/O.

    Notebook 03 builds this converter set-up step by step; later notebooks call it. `representative`
    yields lists of float32 arrays shaped like one input batch; int8 needs it. A SavedModel converts
    faster than a Keras model (no tracing), so export once and convert that when both are needed.
    """
    from labkit.core.tf_env import import_tensorflow

    tf = import_tensorflow()
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}.")
    if variant == "int8" and representative is None:
        raise ValueError("full-int8 conversion needs a representative dataset of real float32 inputs.")
    if isinstance(model, (str, Path)):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model))
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    with quiet():  # the converter logs from C++ and warns about uint8 input statistics
        return converter.convert()


def size_breakdown(model_content: bytes) -> dict[str, int]:
    """Bytes of a .tflite file by what they hold: weights by type, quantization parameters, the rest.

    Per-channel quantization stores a float32 scale and an int64 zero point for every output channel, and
    biases stay int32; in a narrow network such as MobileNetV2 at small alpha they are a visible share.
    """
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        interpreter = Interpreter(model_content=model_content)
    kinds = {"float32": "float32 weights", "int8": "int8 weights", "int32": "int32 biases"}
    parts = dict.fromkeys([*kinds.values(), "quantization parameters"], 0)
    for details in interpreter.get_tensor_details():
        scales, zero_points = (
            details["quantization_parameters"]["scales"],
            details["quantization_parameters"]["zero_points"],
        )
        parts["quantization parameters"] += 4 * scales.size + 8 * zero_points.size  # float32 and int64
        # Before allocation only constant tensors (weights, biases, shapes) have data to read.
        try:
            constant = interpreter.get_tensor(details["index"])
        except ValueError:
            continue
        if constant.dtype.name in kinds:
            parts[kinds[constant.dtype.name]] += constant.nbytes
    parts["graph, names and other"] = len(model_content) - sum(parts.values())
    return parts
