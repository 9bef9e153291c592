"""TensorFlow Serving's REST data model: predict requests in row and columnar format, answers, errors.

Shared by `labkit.serve.tfs_rest_server`; it follows TF Serving's api_rest documentation.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from labkit.serve.json_http import RequestError
from labkit.serve.saved_models import Version


def spec_json(spec: Any) -> dict[str, Any]:
    """A TensorSpec as the metadata API shows it: TensorFlow's own dtype name (DT_FLOAT) and sizes."""
    from tensorflow.core.framework import types_pb2

    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
    return {
        "dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum),
        "tensor_shape": {"dim": dims, "unknown_rank": False},
        "name": spec.name or "",
    }


def is_b64(value: Any) -> bool:
    """`{"b64": "..."}`: the documented encoding of one binary string value."""
    return isinstance(value, dict) and set(value) == {"b64"}


def _map_leaves(value: Any, fn: Callable[[Any], Any]) -> Any:
    """A nested list with `fn` applied to every non-list value, nesting kept."""
    return [_map_leaves(item, fn) for item in value] if isinstance(value, list) else fn(value)


def _leaves(value: Any) -> Iterator[Any]:
    """Every non-list value of a nested list, depth first."""
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _refuse(name: str, spec: Any, value: Any, *, why: str) -> RequestError:
    shown = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return RequestError(400, f"input {name!r} has dtype {spec.dtype.name}; {shown[:80]} {why}.")


def _strings(name: str, value: Any, spec: Any) -> np.ndarray:
    """A DT_STRING input: JSON strings as UTF-8 bytes, `{"b64": ...}` objects decoded from base64."""

    def decode(leaf: Any) -> bytes:
        if isinstance(leaf, str):
            return leaf.encode("utf-8")
        if is_b64(leaf) and isinstance(leaf["b64"], str):
            try:
                return base64.b64decode(leaf["b64"], validate=True)
            except binascii.Error:
                raise _refuse(name, spec, leaf, why="is not valid base64") from None
        raise _refuse(name, spec, leaf, why='is neither a string nor {"b64": "<base64>"}')

    array = np.array(_map_leaves(value, decode), dtype=object)
    if any(not isinstance(leaf, bytes) for leaf in array.flat):
        raise RequestError(400, f"input {name!r} has nested lists of uneven length.")
    return array


def _numbers(name: str, value: Any, spec: Any) -> np.ndarray:
    """A numeric or boolean input, refused (naming the value) when a value does not fit the dtype."""
    dtype = np.dtype(spec.dtype.as_numpy_dtype)
    try:
        raw = np.asarray(value)
    except ValueError:
        raise RequestError(400, f"input {name!r} has nested lists of uneven length.") from None
    if raw.size == 0:
        return raw.astype(dtype)
    wanted = {"b": "true or false", "i": "an integer", "u": "an integer", "f": "a number"}[dtype.kind]
    accepted = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}[dtype.kind]
    if raw.dtype.kind not in accepted:
        bad = next((leaf for leaf in _leaves(value) if _misfit(leaf, dtype)), None)
        if bad is None and dtype.kind == "f" and raw.dtype == object:
            raw = raw.astype(np.float64)  # integers beyond int64, all of them numbers
        elif dtype.kind in "iu" and isinstance(bad, int) and not isinstance(bad, bool):
            raise _refuse(name, spec, bad, why=f"is out of its range {_range(dtype)}")
        else:
            raise _refuse(name, spec, bad, why=f"is not {wanted}")
    if dtype.kind in "iu":
        low, high = raw.min(), raw.max()
        if not _fits(int(low), dtype) or not _fits(int(high), dtype):
            bad = int(low) if not _fits(int(low), dtype) else int(high)
            raise _refuse(name, spec, bad, why=f"is out of its range {_range(dtype)}")
    with np.errstate(over="ignore"):
        array = raw.astype(dtype)
    if dtype.kind == "f":
        overflow = np.isinf(array) & np.isfinite(raw)
        if overflow.any():
            raise _refuse(name, spec, float(raw[overflow][0]), why=f"is out of its range {_range(dtype)}")
    return array


def _misfit(leaf: Any, dtype: np.dtype) -> bool:
    """Whether one JSON value cannot be taken as `dtype` (bools only for bool, integers only for ints)."""
    if not isinstance(leaf, (bool, int, float)) or isinstance(leaf, bool) != (dtype.kind == "b"):
        return True
    if dtype.kind in "iu":
        return isinstance(leaf, float) or not _fits(leaf, dtype)
    return False


def _fits(value: int, dtype: np.dtype) -> bool:
    info = np.iinfo(dtype)
    return int(info.min) <= value <= int(info.max)


def _range(dtype: np.dtype) -> str:
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    return f"[{info.min:g}, {info.max:g}]" if dtype.kind == "f" else f"[{info.min}, {info.max}]"


def _convert(name: str, value: Any, spec: Any, *, rows: bool) -> np.ndarray:
    """One input as the signature's dtype, its shape checked against the spec (batch dimension free)."""
    array = _strings(name, value, spec) if spec.dtype.name == "string" else _numbers(name, value, spec)
    check_shape(name, array, spec, where="instances" if rows else "inputs")
    return array


def check_shape(name: str, array: np.ndarray, spec: Any, *, where: str) -> None:
    """RequestError(400) unless the array's shape fits the spec's (a None dimension takes any size)."""
    expected = spec.shape.as_list()
    if array.ndim != len(expected) or any(
        e is not None and e != g for e, g in zip(expected, array.shape, strict=False)
    ):
        shown = ["batch" if e is None else e for e in expected]
        raise RequestError(
            400, f"input {name!r} has shape {list(array.shape)} from {where}; the signature expects {shown}."
        )


def signature_inputs(version: Version, signature: str) -> dict[str, Any]:
    """The input specs of a signature of `version`, or RequestError(400) naming the signatures it has."""
    if signature not in version.inputs:
        raise RequestError(
            400, f"signature_name {signature!r} not found; this model has {sorted(version.inputs)}."
        )
    return version.inputs[signature]


def parse_request(payload: Any, version: Version) -> tuple[str, dict[str, np.ndarray], bool]:
    """(signature, input arrays, row format?) from a decoded predict body, or RequestError(400)."""
    if not isinstance(payload, dict):
        raise RequestError(400, "the request body must be a JSON object with 'instances' or 'inputs'.")
    signature = payload.get("signature_name") or "serving_default"
    specs = signature_inputs(version, signature)
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError(400, "give exactly one of 'instances' (row format) or 'inputs' (columnar format).")
    rows = "instances" in payload
    data = payload["instances"] if rows else payload["inputs"]
    if rows:
        if not isinstance(data, list) or not data:
            raise RequestError(400, "'instances' must be a non-empty list, one entry per example.")
        if all(isinstance(item, dict) and not is_b64(item) for item in data):
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
    elif isinstance(data, dict) and not is_b64(data):
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
    return signature, {n: _convert(n, columns[n], specs[n], rows=rows) for n in specs}, rows


def _json_value(name: str, array: np.ndarray) -> Any:
    """An output as JSON: strings as text, or as {"b64": ...} when the name ends in `_bytes`."""
    if array.dtype != object:
        return array.tolist()

    def encode(leaf: bytes) -> Any:
        if not name.endswith("_bytes"):
            try:
                return leaf.decode("utf-8")
            except UnicodeDecodeError:
                pass  # binary bytes in an output not named *_bytes: still sent losslessly
        return {"b64": base64.b64encode(leaf).decode("ascii")}

    return _map_leaves(array.tolist(), encode)


def format_response(outputs: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    """`predictions` (one entry per example) for row requests, `outputs` for columnar ones."""
    if not rows:
        if len(outputs) == 1:
            name, array = next(iter(outputs.items()))
            return {"outputs": _json_value(name, array)}
        return {"outputs": {k: _json_value(k, v) for k, v in outputs.items()}}
    if len(outputs) == 1:
        name, array = next(iter(outputs.items()))
        return {"predictions": _json_value(name, array)}
    sizes = {k: (v.shape[0] if v.ndim else None) for k, v in outputs.items()}
    if len(set(sizes.values())) > 1 or None in sizes.values():
        raise RequestError(
            400,
            f"the outputs do not share a 0-th dimension ({sizes}), so they cannot be split into "
            "'predictions' per instance; send the request in the columnar format ('inputs').",
        )
    columns = {k: _json_value(k, v) for k, v in outputs.items()}
    count = next(iter(sizes.values())) or 0
    return {"predictions": [{k: v[i] for k, v in columns.items()} for i in range(count)]}
