"""labkit.runtimes: real ONNX Runtime and OpenVINO on a tiny torch model: parity, int8, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from labkit import bench
from labkit.core import envinfo
from labkit.runtimes import common, onnx_runtime, openvino_runtime


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)).eval()


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)


@pytest.fixture(scope="module")
def onnx_file(tiny: nn.Module, inputs: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_runtime.export_torch(tiny, inputs[:8], tmp_path_factory.mktemp("onnx") / "tiny.onnx")


def _reference(tiny: nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return tiny(torch.from_numpy(inputs)).numpy()


def test_onnx_export_is_described_and_answers_like_torch(tiny, inputs, onnx_file) -> None:
    described = onnx_runtime.describe(onnx_file)
    assert (
        described["inputs"] == {"pixels": ["batch", 6]} and described["opset"] == onnx_runtime.ONNX_OPSET
    ), described
    model = onnx_runtime.OnnxModel(onnx_file, threads=1)
    result = common.parity(_reference(tiny, inputs), model(inputs))
    assert result.top1_agreement == 1.0 and result.max_abs_diff < 1e-5, result
    assert model.providers == ["CPUExecutionProvider"], model.providers
    assert model(inputs[:1]).shape == (1, 4), "the batch dimension is dynamic"


def test_onnx_static_int8_runs_integer_operators(tiny, inputs, onnx_file, tmp_path: Path) -> None:
    int8 = onnx_runtime.quantize_static(onnx_file, tmp_path / "tiny_int8.onnx", inputs[:32])
    model = onnx_runtime.OnnxModel(int8)
    agreement = common.parity(_reference(tiny, inputs), model(inputs)).top1_agreement
    assert agreement >= 0.9, agreement
    operators = model.operators()
    assert any(
        op in operators for op in ("QLinearMatMul", "MatMulInteger", "QGemm", "DynamicQuantizeLinear")
    ) or (operators["QuantizeLinear"] > 0), operators


def test_openvino_converts_onnx_and_torch_and_forces_float32(tiny, inputs, onnx_file, tmp_path: Path) -> None:
    reference = _reference(tiny, inputs)
    for source in (
        openvino_runtime.convert(onnx_file),
        openvino_runtime.convert(tiny, example_input=inputs[:1]),
    ):
        compiled = openvino_runtime.OpenVINOModel(source, batch=16, precision="f32")
        assert compiled.inference_precision == "float32", compiled.inference_precision
        result = common.parity(reference, common.in_batches(compiled, inputs, 16))
        assert result.top1_agreement == 1.0 and result.max_abs_diff < 1e-4, result
    xml = openvino_runtime.save(openvino_runtime.convert(onnx_file), tmp_path / "ir" / "tiny.xml")
    assert xml.exists() and xml.with_suffix(".bin").stat().st_size > 4 * 6 * 16, sorted(xml.parent.iterdir())
    assert sorted(p.name for p in xml.parent.iterdir()) == ["tiny.bin", "tiny.xml"], "no staging left behind"


def test_nncf_int8_keeps_the_answers(tiny, inputs, onnx_file) -> None:
    int8 = openvino_runtime.quantize(openvino_runtime.convert(onnx_file), inputs[:32])
    compiled = openvino_runtime.OpenVINOModel(int8, batch=64)
    agreement = common.parity(_reference(tiny, inputs), compiled(inputs)).top1_agreement
    assert agreement >= 0.9, agreement


def test_int8_kernels_are_told_by_their_precision_suffix_in_either_case() -> None:
    names = [
        "brgconv_avx512_1x1_I8",
        "brgconv_avx512_amx_i8",
        "jit_uni_U8",
        "brgemm_avx512_amx_bf16",
        "ref_f32",
    ]
    verdicts = {name: openvino_runtime.int8_kernel(name) for name in names}
    assert list(verdicts.values()) == [True, True, True, False, False], verdicts


def test_wrong_inputs_get_one_clear_sentence(onnx_file, inputs) -> None:
    model = onnx_runtime.OnnxModel(onnx_file)
    with pytest.raises(TypeError, match="takes a float32 array; got float64"):
        model(inputs.astype(np.float64))
    with pytest.raises(ValueError, match="takes inputs shaped Nx6; got 2x5"):
        model(inputs[:2, :5])
    compiled = openvino_runtime.OpenVINOModel(openvino_runtime.convert(onnx_file), batch=1)
    with pytest.raises(ValueError, match="takes inputs shaped 1x6; got 32x6"):
        compiled(inputs[:32])
    with pytest.raises(ValueError, match="precision must be one of"):
        openvino_runtime.OpenVINOModel(openvino_runtime.convert(onnx_file), batch=1, precision="int4")


def test_missing_and_corrupted_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist; export or convert the model first"):
        onnx_runtime.OnnxModel(tmp_path / "absent.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 this is not a protobuf \xff\xfe")
    with pytest.raises(ValueError, match="export it again"):
        onnx_runtime.OnnxModel(broken)
    with pytest.raises(ValueError, match="OpenVINO cannot convert"):
        openvino_runtime.convert(broken)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        onnx_runtime.describe(tmp_path / "empty.onnx")
    with pytest.raises(FileNotFoundError, match="no model at"):
        openvino_runtime.convert(tmp_path / "absent_savedmodel")


def test_a_runtime_that_is_not_installed_says_how_to_install_it() -> None:
    with pytest.raises(ModuleNotFoundError, match="is not installed .*make venv"):
        common.require("labkit_no_such_runtime", "The imaginary runtime")


def test_in_batches_pads_the_last_batch_and_parity_compares_top1() -> None:
    x = np.arange(10, dtype=np.float32)[:, None]
    seen = []
    out = common.in_batches(lambda b: (seen.append(len(b)), b * 2)[1], x, 4)
    assert seen == [4, 4, 4] and np.array_equal(out, x * 2), (seen, out.ravel())
    result = common.parity(np.eye(3), np.array([[1, 0, 0], [0, 0, 1], [0, 0, 1.0]]))
    assert result.top1_agreement == pytest.approx(2 / 3) and result.max_abs_diff == 1.0, result


def test_race_times_every_callable_each_round() -> None:
    calls: list[str] = []
    ticks = iter(range(0, 10**9, 1000))
    race = bench.race(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b"), "c": lambda: calls.append("c")},
        iterations=5,
        warmup=1,
        clock=lambda: next(ticks),
    )
    assert calls == ["a", "b", "c"] * 6, calls
    assert {name: t.iterations for name, t in race.timings.items()} == {"a": 5, "b": 5, "c": 5}
    assert race.verdict("a", "b").word == "no detectable difference", race.verdict("a", "b")
    with pytest.raises(ValueError, match="at least two"):
        bench.race({"a": lambda: None})


def test_race_in_blocks_rewarms_each_callable_before_timing_it() -> None:
    calls: list[str] = []
    race = bench.race(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, iterations=4, warmup=0, block=2
    )
    assert calls == ["a", "a", "a", "b", "b", "b"] * 2, calls
    assert [t.iterations for t in race.timings.values()] == [4, 4], race.timings
    with pytest.raises(ValueError, match="block must be >= 1"):
        bench.race({"a": lambda: None, "b": lambda: None}, block=0)


def test_hardware_names_the_instruction_sets() -> None:
    found = envinfo.instruction_sets()
    assert set(found) == set(envinfo.INSTRUCTION_SETS), found
    hardware = envinfo.hardware()
    assert set(hardware["instruction_sets"]) <= set(envinfo.INSTRUCTION_SETS), hardware
    assert ("avx2" in hardware["instruction_sets"]) == ("avx2" in envinfo.cpu_flags()), hardware
