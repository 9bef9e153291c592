"""Blocking TF Serving and TorchServe REST clients (notebooks 09, 10, 12 and 13).

A reused `requests.Session`, a timeout on every call, float32 payloads whose shape is checked before
sending, and a `ServingError` carrying the server's own message. Load runs use `labkit.serve.loadgen`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import requests


class ServingError(RuntimeError):
    """A request the server refused or could not answer: the HTTP status and the server's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message = status, message


class _Client:
    """One reused session, a timeout on every call, and refusals raised as ServingError."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def _answer(self, response: requests.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:200]}
        if not response.ok:
            message = body.get("error", body.get("message", str(body))) if isinstance(body, dict) else body
            raise ServingError(response.status_code, str(message))
        return body

    def close(self) -> None:
        self.session.close()


class TFServingClient(_Client):
    """Calls one model of a TF Serving REST endpoint (optionally a fixed version or label)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        version: int | None = None,
        *,
        label: str | None = None,
        timeout_s: float = 10.0,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.model_url = f"{base_url.rstrip('/')}/v1/models/{model}"
        if version is not None:
            self.model_url += f"/versions/{version}"
        elif label is not None:
            self.model_url += f"/labels/{label}"
        super().__init__(timeout_s)
        self.input_shape = input_shape

    def status(self) -> dict[str, Any]:
        return self._answer(self.session.get(self.model_url, timeout=self.timeout_s))

    def metadata(self) -> dict[str, Any]:
        return self._answer(self.session.get(self.model_url + "/metadata", timeout=self.timeout_s))

    def predict(self, x: np.ndarray, signature: str | None = None) -> np.ndarray:
        """Row-format predict of a batch `x` (float32); returns the predictions as an array."""
        x = np.asarray(x, dtype=np.float32)
        if self.input_shape is not None and tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f"inputs have shape {x.shape[1:]} per example; the model takes {self.input_shape}."
            )
        payload: dict[str, Any] = {"instances": x.tolist()}
        if signature:
            payload["signature_name"] = signature
        response = self.session.post(self.model_url + ":predict", json=payload, timeout=self.timeout_s)
        return np.asarray(self._answer(response)["predictions"], dtype=np.float32)

    def predict_batched(self, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Predict many examples in requests of `batch_size` instances each."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
        return np.concatenate([self.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


class TorchServeClient(_Client):
    """Calls a TorchServe model's predictions endpoint served by `labkit.serve.torchserve_handler`."""

    def __init__(self, base_url: str, model: str, timeout_s: float = 10.0) -> None:
        super().__init__(timeout_s)
        self.url = f"{base_url.rstrip('/')}/predictions/{model}"

    def predict(self, x: np.ndarray, raw: bool = False) -> np.ndarray:
        """Probabilities for a batch `x`: sent as JSON `instances`, or as raw float32 bytes when `raw`."""
        x = np.asarray(x, dtype=np.float32)
        if raw:
            body, kind = x.astype("<f4").tobytes(), "application/octet-stream"
        else:
            body, kind = json.dumps({"instances": x.tolist()}).encode(), "application/json"
        response = self.session.post(
            self.url, data=body, headers={"Content-Type": kind}, timeout=self.timeout_s
        )
        return np.asarray(self._answer(response)["predictions"], dtype=np.float32)
