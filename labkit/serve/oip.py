"""The Open Inference Protocol (KServe v2) over HTTP for the async service: the protocol of KServe, Triton,
OpenVINO Model Server and Seldon MLServer, so their clients (`tritonclient.http`) work against it.

Health, server and model metadata, model readiness and `infer`, with JSON tensors and with the binary tensor
data extension (the JSON header's length in `Inference-Header-Content-Length`, each tensor's bytes after it
as `binary_data_size` says). Errors are `{"error": message}` with a 4xx, as the protocol defines them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit.serve.json_http import RequestError, loads

HEADER = "Inference-Header-Content-Length"
DATATYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


@dataclass(frozen=True)
class Model:
    """What the service serves: one FP32 input [-1, features] and one FP32 output [-1, classes]."""

    name: str
    version: str
    features: int
    classes: int
    input: str = "input"
    output: str = "probabilities"

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": "pytorch_torchscript",
            "inputs": [{"name": self.input, "datatype": "FP32", "shape": [-1, self.features]}],
            "outputs": [{"name": self.output, "datatype": "FP32", "shape": [-1, self.classes]}],
        }


@dataclass(frozen=True)
class InferRequest:
    """A decoded infer request: the input batch, whether the output goes back as binary, the request id."""

    x: np.ndarray
    binary_output: bool
    id: str | None


def binary_request(
    x: np.ndarray, *, name: str = "input", binary_output: bool = True
) -> tuple[bytes, dict[str, str]]:
    """An infer request carrying `x` as FP32 binary tensor data: (body, headers), as a client sends it."""
    data = np.ascontiguousarray(x, dtype="<f4").tobytes()
    tensor = {
        "name": name,
        "shape": list(x.shape),
        "datatype": "FP32",
        "parameters": {"binary_data_size": len(data)},
    }
    header = json.dumps({"inputs": [tensor], "parameters": {"binary_data_output": binary_output}}).encode()
    return header + data, {HEADER: str(len(header)), "Content-Type": "application/octet-stream"}


def parse_infer(body: bytes, header_length: str | None, model: Model) -> InferRequest:
    """An infer request body (JSON, or JSON then binary tensor data) as the model's input batch."""
    json_end = len(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise RequestError(
                400, f"{HEADER} is {header_length!r}, but the body holds {len(body)} bytes in all."
            )
        json_end = int(header_length)
    request = loads(body[:json_end])
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise RequestError(400, "the infer request must be a JSON object with an 'inputs' list.")
    inputs = {i.get("name"): i for i in request["inputs"] if isinstance(i, dict)}
    if set(inputs) != {model.input} or len(request["inputs"]) != 1:
        names = [i.get("name") if isinstance(i, dict) else i for i in request["inputs"]]
        raise RequestError(400, f"model {model.name!r} takes one input {model.input!r}; got {names}.")
    x = _tensor(inputs[model.input], body[json_end:])
    if x.ndim != 2 or x.shape[1] != model.features or x.shape[0] == 0:
        raise RequestError(
            400, f"input {model.input!r} must have shape [n >= 1, {model.features}]; got {list(x.shape)}."
        )
    if not np.isfinite(x).all():
        raise RequestError(400, f"input {model.input!r} includes NaN or infinity.")
    return InferRequest(x, _binary_output(request, model), _request_id(request))


def _tensor(spec: dict[str, Any], binary: bytes) -> np.ndarray:
    """One request input as an array, from its JSON `data` or from the binary section."""
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if datatype not in (*DATATYPES, "BYTES"):
        raise RequestError(
            400, f"input {name!r} has datatype {datatype!r}, which the protocol does not define; use FP32."
        )
    if datatype != "FP32":
        raise RequestError(400, f"input {name!r} has datatype {datatype}; this model takes FP32.")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise RequestError(400, f"input {name!r} needs 'shape', a list of sizes; got {shape!r}.")
    dtype = np.dtype(DATATYPES[datatype])
    count = int(np.prod(shape))
    size = (spec.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if size != count * dtype.itemsize or size != len(binary):
            raise RequestError(
                400,
                f"input {name!r}: binary_data_size is {size} bytes, shape {shape} of {datatype} needs "
                f"{count * dtype.itemsize}, and {len(binary)} bytes follow the JSON header.",
            )
        return np.frombuffer(binary, dtype=dtype.newbyteorder("<")).reshape(shape)
    if binary:
        raise RequestError(
            400, f"{len(binary)} bytes follow the JSON header, but no input says binary_data_size."
        )
    try:
        flat = np.asarray(spec.get("data"), dtype=dtype).reshape(-1)
    except (TypeError, ValueError):
        raise RequestError(400, f"input {name!r}: 'data' must be numbers of {datatype}.") from None
    if flat.size != count:
        raise RequestError(
            400, f"input {name!r}: 'data' has {flat.size} values; shape {shape} needs {count}."
        )
    return flat.reshape(shape)


def _binary_output(request: dict[str, Any], model: Model) -> bool:
    default = bool((request.get("parameters") or {}).get("binary_data_output", False))
    for output in request.get("outputs") or []:
        if not isinstance(output, dict) or output.get("name") != model.output:
            raise RequestError(400, f"model {model.name!r} has one output {model.output!r}; got {output!r}.")
        return bool((output.get("parameters") or {}).get("binary_data", default))
    return default


def _request_id(request: dict[str, Any]) -> str | None:
    value = request.get("id")
    return None if value is None else str(value)


def infer_response(y: np.ndarray, request: InferRequest, model: Model) -> tuple[bytes, dict[str, str]]:
    """The response body and headers: JSON `data`, or the JSON header then the tensor's bytes."""
    output: dict[str, Any] = {"name": model.output, "datatype": "FP32", "shape": list(y.shape)}
    tail = b""
    if request.binary_output:
        tail = np.ascontiguousarray(y, dtype="<f4").tobytes()
        output["parameters"] = {"binary_data_size": len(tail)}
    else:
        output["data"] = y.reshape(-1).tolist()
    answer: dict[str, Any] = {"model_name": model.name, "model_version": model.version, "outputs": [output]}
    if request.id is not None:
        answer["id"] = request.id
    header = json.dumps(answer).encode()
    headers = {"Content-Type": "application/json"}
    if tail:
        headers = {"Content-Type": "application/octet-stream", HEADER: str(len(header))}
    return header + tail, headers
