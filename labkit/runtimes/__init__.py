"""Deployment runtimes beside the training frameworks: ONNX Runtime and OpenVINO (with NNCF), taught in 14.

`common` holds what every runtime shares (parity against the source framework, input and file checks);
`onnx_runtime` and `openvino_runtime` export, quantize, inspect and call models in each runtime;
`published` quotes the int8 speed-ups their documentation reports.
"""

from labkit._lazy import submodules

__getattr__, __dir__ = submodules(__name__, __path__)
