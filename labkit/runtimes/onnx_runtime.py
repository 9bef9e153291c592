"""ONNX: export from PyTorch (torch.onnx) and Keras (tf2onnx); inspect, quantize, run in ONNX Runtime.

Static int8 uses ONNX Runtime's own tooling: `quant_pre_process` (shape inference and graph clean-up), then
`quantize_static` in the QDQ format with a calibration reader over real inputs: activations uint8 and
weights int8 per channel (U8S8), the combination ONNX Runtime's x86 kernels (VNNI included) are built for.
Every file is written to a temporary name and moved into place.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labkit.core import files
from labkit.runtimes.common import check_input, existing_file, require

ONNX_OPSET = 18  # the newest opset both torch.onnx and tf2onnx emit for our layers, and ONNX Runtime runs


def _onnx() -> Any:
    return require("onnx", "The onnx package")


def _ort() -> Any:
    return require("onnxruntime", "ONNX Runtime")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporters print progress lines and log warnings about optional operators (torchvision's, which
    these models do not use); keep the cell output to what the lesson shows."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_torch(model: Any, example: np.ndarray, target: str | Path, *, input_name: str = "pixels") -> Path:
    """Export a PyTorch module to ONNX with a dynamic batch dimension (torch.export underneath)."""
    import torch

    batch = torch.export.Dim("batch")
    target = Path(target)
    argument = next(iter(inspect.signature(model.forward).parameters))
    with files.replacing(target) as tmp, _quiet_exporter():
        torch.onnx.export(
            model.eval(),
            (torch.from_numpy(example),),
            str(tmp),
            input_names=[input_name],
            output_names=["output"],
            dynamic_shapes={argument: {0: batch}},
            opset_version=ONNX_OPSET,
            dynamo=True,
            external_data=False,
        )
    return target


def export_keras(model: Any, target: str | Path, *, input_name: str = "pixels") -> Path:
    """Export a Keras model to ONNX with `tf2onnx` (the maintained TensorFlow converter), dynamic batch."""
    from labkit.core.tf_env import import_tensorflow, quiet

    tf = import_tensorflow()
    tf2onnx = require("tf2onnx", "tf2onnx (the TensorFlow-to-ONNX converter)")
    signature = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=input_name),)
    target = Path(target)
    with quiet(), _quiet_exporter():
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=ONNX_OPSET)
    return files.write_atomic(target, proto.SerializeToString())


def _dims(value_info: Any) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def describe(path: str | Path) -> dict[str, Any]:
    """What an ONNX file holds: inputs and outputs (name, shape), opset, IR version, producer, bytes."""
    onnx = _onnx()
    source = existing_file(path, "ONNX model")
    try:
        model = onnx.load(str(source))
    except Exception as error:  # onnx raises DecodeError or its own; both mean the bytes are not a model
        raise ValueError(
            f"{source} is not a readable ONNX model ({type(error).__name__}); export it again."
        ) from None
    return {
        "inputs": {i.name: _dims(i) for i in model.graph.input},
        "outputs": {o.name: _dims(o) for o in model.graph.output},
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".replace(" None", "").strip(),
        "nodes": len(model.graph.node),
        "bytes": source.stat().st_size,
    }


class _Calibration:
    """ONNX Runtime's CalibrationDataReader protocol over real inputs, one example per call."""

    def __init__(self, input_name: str, examples: np.ndarray) -> None:
        self._items = iter([{input_name: example[None]} for example in examples])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def quantize_static(source: str | Path, target: str | Path, calibration: np.ndarray) -> Path:
    """A QDQ int8 copy of an ONNX model, calibrated (min/max) on `calibration`, real float32 inputs."""
    quantization = require("onnxruntime.quantization", "ONNX Runtime's quantization tools")
    source, target = existing_file(source, "ONNX model"), Path(target)
    if len(calibration) == 0:
        raise ValueError("int8 calibration needs at least one real input; got none.")
    input_name = describe(source)["inputs"].popitem()[0]
    with tempfile.TemporaryDirectory() as work, files.replacing(target) as tmp, _quiet_exporter():
        prepared = Path(work) / "prepared.onnx"
        quantization.quant_pre_process(str(source), str(prepared))
        quantization.quantize_static(
            str(prepared),
            str(tmp),
            _Calibration(input_name, np.asarray(calibration, dtype=np.float32)),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
        )
    return target


class OnnxModel:
    """An ONNX file in an ONNX Runtime session on the CPU with a fixed thread count; called with arrays."""

    runtime = "ONNX Runtime"

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        ort = _ort()
        source = existing_file(path, "ONNX model")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        # Idle threads would spin-wait for the next call, taking the cores from whatever runs next (another
        # runtime in a race, the server's event loop): they sleep instead.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._work = tempfile.TemporaryDirectory()  # removed with the object
        self._optimized = Path(self._work.name) / "optimized.onnx"
        options.optimized_model_filepath = str(self._optimized)
        try:
            self.session = ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own Fail/InvalidProtobuf classes
            first = str(error).splitlines()[0][:160]
            raise ValueError(f"ONNX Runtime cannot load {source} ({first}); export it again.") from None
        self.threads = threads
        self.input = self.session.get_inputs()[0]
        self.shape = tuple(d if isinstance(d, int) else None for d in self.input.shape)
        self.dtype = np.dtype(np.float32)

    @property
    def providers(self) -> list[str]:
        """The execution providers the session really uses, in priority order."""
        return list(self.session.get_providers())

    def __call__(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self.shape, self.dtype, where=f"the ONNX model's input {self.input.name!r}")
        return self.session.run(None, {self.input.name: x})[0]

    def operators(self) -> Counter[str]:
        """Operator types of the graph ONNX Runtime executes after its optimizations (QLinearConv,
        MatMulInteger, ... mean int8 kernels; DequantizeLinear left in front of a float op means not)."""
        onnx = _onnx()
        return Counter(node.op_type for node in onnx.load(str(self._optimized)).graph.node)
