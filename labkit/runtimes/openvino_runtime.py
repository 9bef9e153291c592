"""OpenVINO: convert (SavedModel, ONNX, a torch or Keras model), quantize with NNCF, compile, call, inspect.

Two OpenVINO defaults change what a "float32" measurement means, so both are explicit here: on a CPU with
bfloat16 support the CPU plugin runs a float32 model in bfloat16 unless `INFERENCE_PRECISION_HINT` says
f32, and `openvino.save_model` stores weights as float16 unless `compress_to_fp16=False`. A compiled model
takes one input shape: it is reshaped to a static batch before compiling, as the latency hint prefers.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labkit.runtimes.common import check_input, existing_file, require

PRECISIONS = ("default", "f32", "bf16")


def _ov() -> Any:
    _decline_telemetry()
    return require("openvino", "OpenVINO")


def _decline_telemetry() -> None:
    """Record "no" in OpenVINO's telemetry consent file when the user has not answered.

    Without the file, OpenVINO's converter sends usage statistics from forked processes on every
    conversion (about 25 forks of this kernel per call here); the series runs offline and sends nothing.
    An existing answer (`opt_in_out --opt_in` or `--opt_out`) is left as it is.
    """
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no telemetry package: nothing would be sent
        return
    checker = OptInChecker()
    if checker.consent_file_base_dir() is not None and not Path(checker.consent_file()).exists():
        checker.update_result(ConsentCheckResult.DECLINED)


def convert(source: Any, *, example_input: np.ndarray | None = None) -> Any:
    """An `openvino.Model` from a SavedModel directory or an .onnx file, a Keras model in memory, or a
    torch module (with `example_input`, one real input batch; the batch dimension is left free)."""
    ov = _ov()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"no model at {path}; give a SavedModel directory or an .onnx file.")
        try:
            return ov.convert_model(str(path))
        except Exception as error:  # OpenVINO's frontends raise their own classes for unreadable files
            first = str(error).strip().splitlines()[0][:160]
            raise ValueError(f"OpenVINO cannot convert {path} ({first}); export it again.") from None
    torch = sys.modules.get("torch")  # a torch module can exist only once torch is imported
    if torch is not None and isinstance(source, torch.nn.Module):
        if example_input is None:
            raise ValueError("converting a torch module needs example_input, one real input batch.")
        shape = ov.PartialShape([-1, *example_input.shape[1:]])  # a free batch, the example's other sides
        return ov.convert_model(source.eval(), example_input=torch.from_numpy(example_input), input=[shape])
    return ov.convert_model(source)  # a Keras model: traced in memory, no SavedModel written


def save(model: Any, target: str | Path) -> Path:
    """Write the model as OpenVINO IR (.xml and .bin beside it), float32 weights kept as they are; both
    files are written in a folder beside the target and moved into place, the weights first."""
    ov = _ov()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".tmp-") as work:
        staged = Path(work) / target.name
        ov.save_model(model, str(staged), compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(staged, target)
    return target


def quantize(model: Any, calibration: Iterable[np.ndarray]) -> Any:
    """NNCF post-training int8 quantization, calibrated on real inputs (one example per item)."""
    nncf = require("nncf", "NNCF (the Neural Network Compression Framework)")
    items = [np.asarray(x, dtype=np.float32)[None] for x in calibration]
    if not items:
        raise ValueError("int8 calibration needs at least one real input; got none.")
    with _progress_bars_off():
        return nncf.quantize(model, nncf.Dataset(items), subset_size=len(items))


@contextlib.contextmanager
def _progress_bars_off() -> Iterator[None]:
    """NNCF draws its progress with rich's shared console; in a notebook each bar becomes a widget that a
    saved notebook shows as an empty box. Send them to nowhere while NNCF runs."""
    import rich

    console = rich.get_console()
    saved = console.is_jupyter, console.file
    console.is_jupyter, console.file = False, io.StringIO()
    try:
        yield
    finally:
        console.is_jupyter, console.file = saved


class OpenVINOModel:
    """A model compiled for the CPU at one static batch size and thread count; called with arrays."""

    runtime = "OpenVINO"

    def __init__(self, model: Any, *, batch: int, threads: int = 1, precision: str = "f32") -> None:
        ov = _ov()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
        shaped = model.clone()
        shape = [batch, *list(shaped.input(0).get_partial_shape().get_min_shape())[1:]]
        shaped.reshape(shape)
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
        }
        if precision != "default":
            config["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = ov.Core().compile_model(shaped, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.shape, self.threads, self.batch = tuple(shape), threads, batch
        self.dtype = np.dtype(np.float32)

    @property
    def inference_precision(self) -> str:
        """The precision the CPU plugin really computes float layers in (bf16 by default where supported)."""
        return str(self.compiled.get_property("INFERENCE_PRECISION_HINT")).replace("<Type: '", "").strip("'>")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        check_input(x, self.shape, self.dtype, where="the compiled OpenVINO model")
        self.request.infer({0: x})
        return self.request.get_output_tensor(0).data.copy()

    def kernels(
        self, layer_types: tuple[str, ...] = ("Convolution", "FullyConnected", "MatMul")
    ) -> Counter[str]:
        """Which CPU kernels the compute layers got, e.g. `brgconv_avx512_I8` or `jit_avx512_amx_bf16`."""
        found: Counter[str] = Counter()
        for op in self.compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            if info["layerType"].astype(str) in layer_types and "primitiveType" in info:
                found[info["primitiveType"].astype(str)] += 1
        return found


def int8_kernel(primitive: str) -> bool:
    """Whether an OpenVINO CPU primitive computes in 8-bit integers: its name ends in its precision, `_I8`
    or `_U8` (`brgconv_avx512_1x1_I8`), lower case on some kernels (`brgconv_avx512_amx_i8` with AMX)."""
    return primitive.lower().endswith(("_i8", "_u8"))


def benchmark_app(
    xml: str | Path, *, shape: tuple[int, ...], threads: int, precision: str, seconds: int = 3
) -> dict[str, float]:
    """OpenVINO's own `benchmark_app` on an IR file (synchronous, one stream): median ms and throughput."""
    source = existing_file(xml, "OpenVINO IR")
    beside = Path(sys.executable).with_name("benchmark_app")  # the venv's, when Jupyter's PATH lacks it
    tool = str(beside) if beside.exists() else "benchmark_app"
    command = [tool, "-m", str(source), "-d", "CPU", "-hint", "none", "-nstreams", "1", "-api", "sync"]
    command += ["-t", str(seconds), "-nthreads", str(threads), "-shape", f"[{','.join(map(str, shape))}]"]
    if precision != "default":
        command += ["-infer_precision", precision]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120 + seconds, check=False)
    except FileNotFoundError:
        raise ModuleNotFoundError(
            "benchmark_app is not on PATH; it comes with the openvino package."
        ) from None
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"benchmark_app failed on {source}: {' '.join(last)}")
    median = re.search(r"Median:\s+([\d.]+) (ms|us)", done.stdout)  # microseconds below 1 ms
    throughput = re.search(r"Throughput:\s+([\d.]+) FPS", done.stdout)
    if not (median and throughput):
        raise RuntimeError(f"benchmark_app printed no median latency or throughput for {source}.")
    scale = 1.0 if median.group(2) == "ms" else 1e-3
    return {"median_ms": float(median.group(1)) * scale, "throughput_fps": float(throughput.group(1))}
