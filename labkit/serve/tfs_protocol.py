"""TensorFlow Serving's REST data model: predict requests in row and columnar format, answers, errors.

Shared by `labkit.serve.tfs_rest_server`; it follows TF Serving's api_rest documentation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.serve.saved_models import Version

_DTYPES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int32": "DT_INT32", "int64": "DT_INT64"}


class RequestError(Exception):
    """A client mistake: answered with this status and {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def spec_json(spec: Any) -> dict[str, Any]:
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
    return {
        "dtype": _DTYPES.get(spec.dtype.name, spec.dtype.name),
        "tensor_shape": {"dim": dims, "unknown_rank": False},
        "name": spec.name or "",
    }


def _convert(name: str, value: Any, spec: Any, *, rows: bool) -> np.ndarray:
    """One input as the signature's dtype, its shape checked against the spec (batch dimension free)."""
    try:
        array = np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
    except (TypeError, ValueError):
        raise RequestError(
            400,
            f"input {name!r} must be numbers of dtype {spec.dtype.name}; got values that are not "
            "(strings or nested lists of uneven length).",
        ) from None
    expected = spec.shape.as_list()
    if array.ndim != len(expected) or any(
        e is not None and e != g for e, g in zip(expected, array.shape, strict=False)
    ):
        where = "instances" if rows else "inputs"
        shown = ["batch" if e is None else e for e in expected]
        raise RequestError(
            400, f"input {name!r} has shape {list(array.shape)} from {where}; the signature expects {shown}."
        )
    return array


def parse_request(payload: Any, version: Version) -> tuple[str, dict[str, np.ndarray], bool]:
    """(signature, input arrays, row format?) from a decoded predict body, or RequestError(400)."""
    if not isinstance(payload, dict):
        raise RequestError(400, "the request body must be a JSON object with 'instances' or 'inputs'.")
    signature = payload.get("signature_name") or "serving_default"
    if signature not in version.inputs:
        raise RequestError(
            400, f"signature_name {signature!r} not found; this model has {sorted(version.inputs)}."
        )
    specs = version.inputs[signature]
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError(400, "give exactly one of 'instances' (row format) or 'inputs' (columnar format).")
    rows = "instances" in payload
    data = payload["instances"] if rows else payload["inputs"]
    if rows:
        if not isinstance(data, list) or not data:
            raise RequestError(400, "'instances' must be a non-empty list, one entry per example.")
        if all(isinstance(item, dict) for item in data):
            missing = [n for n in specs if any(n not in item for item in data)]
            if missing:
                raise RequestError(
                    400, f"every instance needs the inputs {sorted(specs)}; missing {missing}."
                )
            columns = {n: [item[n] for item in data] for n in specs}
        elif len(specs) == 1:
            columns = {next(iter(specs)): data}
        else:
            raise RequestError(
                400, f"this signature has several inputs {sorted(specs)}: give each instance as an object."
            )
    elif isinstance(data, dict):
        columns = data
    elif len(specs) == 1:
        columns = {next(iter(specs)): data}
    else:
        raise RequestError(
            400, f"this signature has several inputs {sorted(specs)}: give 'inputs' as an object."
        )
    unknown = sorted(set(columns) - set(specs))
    if unknown or set(columns) != set(specs):
        raise RequestError(400, f"inputs {sorted(columns)} do not match the signature's {sorted(specs)}.")
    arrays = {n: _convert(n, columns[n], specs[n], rows=rows) for n in specs}
    sizes = {a.shape[0] for a in arrays.values() if a.ndim}
    if len(sizes) > 1:
        raise RequestError(400, f"inputs disagree on the batch size: {sorted(sizes)}.")
    return signature, arrays, rows


def format_response(outputs: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    """`predictions` (one entry per example) for row requests, `outputs` for columnar ones."""
    if rows:
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values())).tolist()}
        count = len(next(iter(outputs.values())))
        return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(count)]}
    if len(outputs) == 1:
        return {"outputs": next(iter(outputs.values())).tolist()}
    return {"outputs": {k: v.tolist() for k, v in outputs.items()}}
