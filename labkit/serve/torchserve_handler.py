"""The batch-aware TorchServe handler (notebook 10): one model call per batch, one answer per request.

Packed into the model archive as it is, so it imports only what a TorchServe worker has (torch, numpy,
`ts`); a bad request gets its own 400 while the others of its batch are answered.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import torch

# TorchServe's base handler imports OpenVINO's torch.compile backend whenever OpenVINO is installed (for
# notebook 14): the OpenVINO runtime in every worker, a few hundred MB each, and a warning. This handler
# never compiles, so that import is answered "not installed" unless OpenVINO is already in the process.
sys.modules.setdefault("openvino.torch", None)  # type: ignore[arg-type]
from ts.torch_handler.base_handler import BaseHandler  # noqa: E402

FEATURES = 784
MAX_EXAMPLES = 1024
FORMATS = (
    f"send a JSON list of {FEATURES} numbers, a list of such lists, {{'instances': [...]}}, "
    f"or raw little-endian float32 bytes ({FEATURES * 4} per example)"
)


def _decode(payload: Any) -> Any:
    """JSON from text or bytes that hold JSON; otherwise raw float32 bytes as an array."""
    if isinstance(payload, (bytes, bytearray)):
        try:
            return json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if len(payload) % (4 * FEATURES):
                raise ValueError(
                    f"{len(payload)} bytes is neither JSON nor whole float32 examples; {FORMATS}."
                ) from None
            return np.frombuffer(bytes(payload), dtype="<f4").reshape(-1, FEATURES)
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except json.JSONDecodeError as error:
            raise ValueError(f"malformed JSON ({error.msg} at position {error.pos}); {FORMATS}.") from None
    return payload


def parse_request(request: dict[str, Any]) -> np.ndarray:
    """One request's examples as float32 of shape [n, 784], or a ValueError saying what is wrong.

    (A ValueError, not a class of its own: TorchServe refuses a handler file that defines two classes.)
    """
    payload = request.get("data")
    if payload is None:
        payload = request.get("body")
    if payload is None:
        raise ValueError(f"the request has no body; {FORMATS}.")
    value = _decode(payload)
    if isinstance(value, dict):
        if "instances" not in value:
            raise ValueError(f"a JSON object needs an 'instances' key; got keys {sorted(value)}.")
        value = value["instances"]
    try:
        x = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"the values are not all numbers in equal-length rows; {FORMATS}.") from None
    if x.size == 0:
        raise ValueError(f"the request holds no examples; {FORMATS}.")
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != FEATURES:
        shape = list(x.shape) if x.ndim != 2 else x.shape[1]
        raise ValueError(f"expected {FEATURES} values per example, got {shape}; {FORMATS}.")
    if len(x) > MAX_EXAMPLES:
        raise ValueError(f"a request carries 1 to {MAX_EXAMPLES} examples; this one has {len(x)}.")
    if not np.isfinite(x).all():
        raise ValueError("the values include NaN or infinity.")
    return x


class DigitsHandler(BaseHandler):
    """Serves the MLP of notebook 05 (TorchScript, 784 pixels in, 10 probabilities out), batch-aware."""

    def preprocess(self, data: list[dict[str, Any]]) -> torch.Tensor:
        """Parse every request of the batch; remember how many examples each brought, or its error."""
        self.counts: list[int] = []
        self.errors: dict[int, str] = {}
        parts = []
        for index, request in enumerate(data):
            try:
                x = parse_request(request)
            except ValueError as error:
                self.errors[index] = str(error)
                self.counts.append(0)
                continue
            parts.append(x)
            self.counts.append(len(x))
        joined = np.concatenate(parts) if parts else np.zeros((0, FEATURES), np.float32)
        return torch.from_numpy(joined).to(self.device)

    def inference(self, data: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """One model call for all valid examples of the batch."""
        if len(data) == 0:
            return torch.zeros((0, 10))
        with torch.inference_mode():
            return self.model(data).softmax(dim=1)

    def postprocess(self, data: torch.Tensor) -> list[Any]:
        """One answer per request, in order; a refused request gets its message and status 400."""
        rows = data.cpu().numpy().round(6).tolist()
        answers: list[Any] = []
        start = 0
        for index, count in enumerate(self.counts):
            if index in self.errors:
                self.context.set_response_status(400, self.errors[index], idx=index)
                answers.append({"error": self.errors[index]})
                continue
            answers.append({"predictions": rows[start : start + count]})
            start += count
        return answers
