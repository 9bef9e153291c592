"""Ray Serve applications for notebook 15: a TorchScript model behind HTTP, one request at a time or
dynamically batched with `@serve.batch`, speaking the same `{"instances": ...}` JSON as 11's service.

Importable by Ray's workers (a Serve config file names `labkit.serve.ray_apps:build_app`), and importing
this module does not import Ray: the deployments are built when an application is.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_ROUTE = "/predict"


def _load(model_path: str) -> Any:
    """The TorchScript model; a relative path is read under this node's artifacts folder."""
    import torch

    from labkit.core import paths

    path = Path(model_path) if Path(model_path).is_absolute() else paths.artifacts_dir() / model_path
    if not path.is_file():
        raise FileNotFoundError(f"no TorchScript model at {path}; build it first (notebook 11 or 15).")
    model = torch.jit.load(str(path), map_location="cpu")
    model.eval()
    return model


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


def _error(status: int, message: str) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def build_app(args: dict[str, Any], **deployment_options: Any) -> Any:
    """A Serve application from config-file style arguments.

    `model_path` (TorchScript, absolute or under the artifacts folder), `features` (784), `batched`
    (use `@serve.batch`), `max_batch_size`, `batch_wait_timeout_s`. The deployment's own options
    (replicas, CPUs, autoscaling, `max_ongoing_requests`) come as keyword arguments here, or from the
    config file's `deployments`.
    """
    from ray import serve
    from starlette.requests import Request

    from labkit.serve.async_service import parse_instances

    model_path = str(args["model_path"])
    features = int(args.get("features", 784))
    batched = bool(args.get("batched", False))
    max_batch_size = int(args.get("max_batch_size", 32))
    wait_s = float(args.get("batch_wait_timeout_s", 0.002))

    class Model:
        """One replica: the model, loaded once; answers one request per model call, or batches them.

        GET answers the replica's counters: model calls, examples, seconds spent in the model and the
        largest batch."""

        def __init__(self) -> None:
            self.model = _load(model_path)
            self.calls = 0
            self.examples = 0
            self.model_seconds = 0.0
            self.largest_batch = 0

        async def __call__(self, request: Request) -> Any:
            if request.method == "GET":
                return {
                    "pid": os.getpid(),
                    "model_calls": self.calls,
                    "examples": self.examples,
                    "model_seconds": self.model_seconds,
                    "largest_batch": self.largest_batch,
                }
            try:
                x = parse_instances(await request.body(), features)
            except ValueError as error:
                return _error(400, str(error))
            if batched:
                if len(x) != 1:
                    return _error(400, "the batched deployment takes one row per request.")
                return {"predictions": (await self.one_row(x[0])).tolist()}
            return {"predictions": self.run(x).tolist()}

        def run(self, x: np.ndarray) -> np.ndarray:
            """One model call, counted and timed (GET reports the totals)."""
            started = time.perf_counter()
            y = _predict(self.model, x)
            self.model_seconds += time.perf_counter() - started
            self.calls += 1
            self.examples += len(x)
            self.largest_batch = max(self.largest_batch, len(x))
            return y

        @serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=wait_s)
        async def one_row(self, rows: list[np.ndarray]) -> list[np.ndarray]:
            """Called by Serve with the rows of up to `max_batch_size` waiting requests at once."""
            answers = self.run(np.stack(rows))
            return [a.reshape(1, -1) for a in answers]

    deployment = serve.deployment(name="batched_model" if batched else "model")(Model)
    return deployment.options(**deployment_options).bind()


def validate_config(document: dict[str, Any]) -> Any:
    """A Serve config file checked as Serve checks it: the file by `ServeDeploySchema`, and each
    deployment's `autoscaling_config` by `AutoscalingConfig` (the file's schema leaves it a plain dict).

    Returns the parsed schema; raises pydantic's ValidationError naming the field that is wrong.
    """
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(document)
    for application in schema.applications:
        for deployment in application.deployments:
            if isinstance(deployment.autoscaling_config, dict):
                AutoscalingConfig.model_validate(deployment.autoscaling_config)
    return schema
