"""An async inference service with dynamic micro-batching (notebook 11), on aiohttp.

POST /v1/predict (and the Open Inference Protocol's /v2 endpoints, `labkit.serve.oip`) is answered through
`labkit.serve.batching.MicroBatcher`, with 503 back-pressure, JSON 400/408/413 errors for bad requests, a
graceful drain on SIGTERM and Prometheus metrics on /metrics.
Run: `python -m labkit.serve.async_service --model model.torchscript.pt --port PORT [--max_batch 32 ...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from labkit import __version__
from labkit.ops.monitor import ModelMonitor
from labkit.serve import json_http, oip, processes
from labkit.serve.batching import MicroBatcher, Overloaded, Predict
from labkit.serve.json_http import RequestError


def parse_instances(body: bytes, features: int) -> np.ndarray:
    """`{"instances": [[...], ...]}` as float32 [n, features], or ValueError naming what is wrong."""
    return instances_array(json_http.loads(body), features)


def instances_array(payload: object, features: int) -> np.ndarray:
    """A decoded body's instances as float32 [n, features], or ValueError naming what is wrong."""
    if not isinstance(payload, dict) or "instances" not in payload:
        raise ValueError('the body must be a JSON object {"instances": [[...], ...]}.')
    try:
        x = np.asarray(payload["instances"], dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("instances must be equal-length lists of numbers.") from None
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != features:
        raise ValueError(f"instances must have shape [n >= 1, {features}]; got {list(x.shape)}.")
    if not np.isfinite(x).all():
        raise ValueError("instances include NaN or infinity.")
    return x


def build_app(
    batcher: MicroBatcher,
    monitor: ModelMonitor,
    *,
    features: int,
    max_body_bytes: int,
    read_timeout_s: float = 30.0,
    model: oip.Model | None = None,
) -> web.Application:
    """The aiohttp application: POST /v1/predict, GET /healthz, GET /metrics, and with `model` the Open
    Inference Protocol under /v2 (`oip_routes`); errors are JSON."""
    app = web.Application(client_max_size=max_body_bytes, middlewares=[json_http.errors])

    async def infer(x: np.ndarray) -> np.ndarray:
        """The batch's answer through the micro-batcher; 503 (and Retry-After) when the queue is full."""
        try:
            return await batcher.submit(x)
        except Overloaded as error:
            monitor.errors.labels(**monitor.labels, kind="overloaded").inc()
            raise RequestError(503, str(error)) from None
        except Exception as error:  # the model call failed: a server error, said as one
            monitor.errors.labels(**monitor.labels, kind="model").inc()
            raise RequestError(500, f"the model failed: {error}") from None

    async def read_body(request: web.Request) -> bytes:
        return await json_http.read_body(request, timeout_s=read_timeout_s, max_bytes=max_body_bytes)

    async def predict(request: web.Request) -> web.Response:
        with monitor.track():
            try:
                x = instances_array(json_http.loads(await read_body(request)), features)
                y = await infer(x)
            except ValueError as error:
                return refusal(monitor, error)
            return web.json_response(
                {"predictions": y.round(6).tolist(), "model_version": monitor.labels["version"]}
            )

    async def healthz(request: web.Request) -> web.Response:
        counts = {
            "model_calls": batcher.calls,
            "examples": batcher.examples,
            "waiting": batcher.queue.qsize(),
        }
        return web.json_response({"status": "ok", "version": monitor.labels["version"], **counts})

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=monitor.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def batching(app: web.Application):
        task = asyncio.create_task(batcher.run())
        yield
        while not batcher.idle:  # accepted before the stop, waiting or in a batch: answer them all
            await asyncio.sleep(0.01)
        task.cancel()
        batcher.close()

    app.cleanup_ctx.append(batching)
    app.router.add_post("/v1/predict", predict)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if model is not None:
        app.router.add_routes(oip_routes(model, monitor, read_body=read_body, infer=infer))
    return app


def refusal(monitor: ModelMonitor, error: ValueError) -> web.Response:
    """A refused request as its JSON error, counted by kind (503s and 500s were counted where raised)."""
    status = getattr(error, "status", 400)
    if status < 500:
        monitor.errors.labels(**monitor.labels, kind="bad_request").inc()
    headers = {"Retry-After": "1"} if status == 503 else None
    return json_http.error_response(status, str(error), headers=headers)


def oip_routes(
    model: oip.Model,
    monitor: ModelMonitor,
    *,
    read_body: Callable[[web.Request], Awaitable[bytes]],
    infer: Callable[[np.ndarray], Awaitable[np.ndarray]],
) -> web.RouteTableDef:
    """The Open Inference Protocol's health, metadata, readiness and infer endpoints for `model`."""
    routes = web.RouteTableDef()

    def served(request: web.Request) -> None:
        name, version = request.match_info["name"], request.match_info.get("version")
        if name != model.name or version not in (None, model.version):
            wanted = name if version is None else f"{name} version {version}"
            raise RequestError(
                404,
                f"model {wanted} is not served here; this service serves {model.name} "
                f"version {model.version}.",
            )

    @routes.get("/v2")
    async def server_metadata(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": "labkit.serve.async_service",
                "version": __version__,
                "extensions": ["binary_tensor_data"],
            }
        )

    @routes.get("/v2/health/live")
    async def live(request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    @routes.get("/v2/health/ready")
    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    @routes.get("/v2/models/{name}")
    @routes.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(request: web.Request) -> web.Response:
        served(request)
        return web.json_response(model.metadata())

    @routes.get("/v2/models/{name}/ready")
    @routes.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(request: web.Request) -> web.Response:
        served(request)
        return web.json_response({"name": model.name, "ready": True})

    @routes.post("/v2/models/{name}/infer")
    @routes.post("/v2/models/{name}/versions/{version}/infer")
    async def infer_endpoint(request: web.Request) -> web.Response:
        served(request)
        with monitor.track():
            try:
                parsed = oip.parse_infer(await read_body(request), request.headers.get(oip.HEADER), model)
                y = await infer(parsed.x)
            except ValueError as error:
                return refusal(monitor, error)
            body, headers = oip.infer_response(y, parsed, model)
            return web.Response(body=body, headers=headers)

    return routes


def torchscript_predict(
    path: Path, *, threads: int, device: str = "cpu", max_batch: int = 1, features: int = 784
) -> Predict:
    """Softmax probabilities of a TorchScript classifier, under inference_mode, with `threads` CPU threads.

    TorchScript's profiling executor re-optimizes a graph for each new input shape it meets, which stalls
    the first calls at every batch size; so graph optimization is off and every batch size from 1 to
    `max_batch` is called once before serving (a warm-up, as serving systems do).
    """
    import torch

    torch.set_num_threads(threads)
    model = torch.jit.load(str(path), map_location=device).eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            return model(torch.from_numpy(x).to(device)).softmax(dim=1).cpu().numpy()

    for size in range(1, max_batch + 1):
        predict(np.zeros((size, features), np.float32))
    return predict


def command(model: Path, port: int, **flags: object) -> list[str]:
    """The command line that serves `model` on 127.0.0.1:`port`; `flags` are main's options by name."""
    line = [sys.executable, "-m", "labkit.serve.async_service", f"--model={model}", f"--port={port}"]
    return line + [f"--{name}={value}" for name, value in flags.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.serve.async_service", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", required=True, type=Path, help="a TorchScript classifier")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--version", default="1")
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--max_batch", type=int, default=32)
    parser.add_argument("--max_wait_ms", type=float, default=2.0)
    parser.add_argument("--queue_limit", type=int, default=256)
    parser.add_argument("--max_body_bytes", type=int, default=4 * 2**20)
    parser.add_argument("--read_timeout_s", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    try:
        processes.ensure_port_free(args.port)
        if not args.model.is_file():
            raise RuntimeError(f"no model file at {args.model}; export one first (notebook 05).")
        predict = torchscript_predict(
            args.model,
            threads=args.threads,
            device=args.device,
            max_batch=args.max_batch,
            features=args.features,
        )
        batcher = MicroBatcher(
            predict, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, queue_limit=args.queue_limit
        )
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    name = args.model.stem.split(".")[0]
    monitor = ModelMonitor(name, args.version)
    classes = predict(np.zeros((1, args.features), np.float32)).shape[1]
    app = build_app(
        batcher,
        monitor,
        features=args.features,
        max_body_bytes=args.max_body_bytes,
        read_timeout_s=args.read_timeout_s,
        model=oip.Model(name, args.version, features=args.features, classes=classes),
    )
    print(
        f"serving {args.model.name} on http://{processes.HOST}:{args.port} (max_batch {args.max_batch})",
        flush=True,
    )
    web.run_app(
        app,
        host=processes.HOST,
        port=args.port,
        print=None,
        shutdown_timeout=30,
        keepalive_timeout=args.read_timeout_s,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
