"""labkit.compress.litert: quantization arithmetic by hand, and a real int8 model run through LiteRT."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.compress import litert


def test_quantize_by_hand() -> None:
    x = np.array([0.0, 0.5, 1.0, -0.2, 2.0])
    q = litert.quantize(x, scale=1 / 255, zero_point=0, dtype=np.uint8)
    assert q.tolist() == [0, 128, 255, 0, 255], q  # 127.5 rounds to even (128), out of range clips
    q8 = litert.quantize(np.array([-1.0, 0.0, 1.0]), scale=0.5, zero_point=-3, dtype=np.int8)
    assert q8.tolist() == [-5, -3, -1], q8


def test_dequantize_by_hand() -> None:
    out = litert.dequantize(np.array([0, 128, 255], dtype=np.uint8), scale=1 / 256, zero_point=0)
    assert out.tolist() == [0.0, 0.5, 255 / 256], out
    assert litert.dequantize(np.array([-3], dtype=np.int8), 0.5, -3).tolist() == [0.0]
    with pytest.raises(ValueError, match="scale must be positive, got 0"):
        litert.quantize(np.zeros(1), 0, 0, dtype=np.uint8)


def test_int8_model_runs_with_float_inputs() -> None:
    pytest.importorskip("ai_edge_litert")
    from labkit.core.tf_env import import_tensorflow

    tf = import_tensorflow()
    rng = np.random.default_rng(0)
    x = rng.random((64, 8), dtype=np.float32)
    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(3)])
    model.layers[0].set_weights([np.eye(8, 3, dtype=np.float32), np.zeros(3, np.float32)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(64))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    runner = litert.LiteRTModel(converter.convert())
    assert runner.input_dtype == np.uint8, runner.input_dtype
    got = runner.predict(x[:5])
    assert got.shape == (5, 3) and np.abs(got - x[:5, :3]).max() < 0.02, np.abs(got - x[:5, :3]).max()
    with pytest.raises(ValueError, match="expected type UINT8"):
        runner.invoke_raw(x[:1])


def test_uint8_io_by_hand_equals_litert_float_io() -> None:
    """quantize, the uint8 model, dequantize: exactly what LiteRT computes with float input and output."""
    pytest.importorskip("ai_edge_litert")
    from labkit.core.tf_env import import_tensorflow

    tf = import_tensorflow()
    rng = np.random.default_rng(1)
    x = rng.random((64, 8), dtype=np.float32)
    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(4, activation="softmax")])
    representative = lambda: ([x[i : i + 1]] for i in range(64))  # noqa: E731
    uint8_io = litert.convert(model, "int8", representative)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    float_io = litert.LiteRTModel(converter.convert())
    assert float_io.input_dtype == np.float32, float_io.input_dtype
    probe = x.copy()
    probe[:, 0], probe[:, 1] = 1.7, -0.4  # outside the calibrated range: quantize must clip
    assert np.array_equal(litert.LiteRTModel(uint8_io).predict(probe), float_io.predict(probe))
