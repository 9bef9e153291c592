"""int8-over-float32 speed-ups that the runtimes' own documentation publishes, with the hardware and setting
each was measured on, to read beside a notebook's own figures (14). Quoted, not measured here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """One published int8-over-float32 speed-up and where it comes from."""

    runtime: str
    model: str
    speedup: float
    hardware: str
    setting: str
    source: str


OPENVINO_INT8_VS_FP32 = "https://docs.openvino.ai/2021.4/openvino_docs_performance_int8_vs_fp32.html"
PYTORCH_X86_BACKEND = (
    "https://www.intel.com/content/www/us/en/developer/articles/technical/"
    "accelerate-pytorch-int8-inf-with-new-x86-backend.html"
)

_OV, _MOBILENET, _PT = "OpenVINO", "mobilenet-v2-1.0-224-TF", "geomean of 69 models"
FIGURES = (
    Published(_OV, _MOBILENET, 1.5, "Intel Core i7-8700T (AVX2)", "throughput", OPENVINO_INT8_VS_FP32),
    Published(_OV, _MOBILENET, 1.8, "Intel Xeon W-1290P (AVX2)", "throughput", OPENVINO_INT8_VS_FP32),
    Published(
        _OV, _MOBILENET, 2.4, "Intel Core i7-1185G7 (AVX-512 VNNI)", "throughput", OPENVINO_INT8_VS_FP32
    ),
    Published(
        _OV, _MOBILENET, 3.9, "Intel Xeon Platinum 8270 (AVX-512 VNNI)", "throughput", OPENVINO_INT8_VS_FP32
    ),
    Published(
        "PyTorch x86 backend", _PT, 2.97, "4th Gen Xeon, AMX (4 cores)", "batch 1", PYTORCH_X86_BACKEND
    ),
    Published(
        "PyTorch FBGEMM backend", _PT, 1.43, "4th Gen Xeon, AMX (4 cores)", "batch 1", PYTORCH_X86_BACKEND
    ),
)
