"""An async inference service with dynamic micro-batching (notebook 11), on aiohttp.

POST /v1/predict is answered through `labkit.serve.batching.MicroBatcher`, with 503 back-pressure, JSON
400/408/413 errors for bad requests, a graceful drain on SIGTERM and Prometheus metrics on /metrics.
Run: `python -m labkit.serve.async_service --model model.torchscript.pt --port PORT [--max_batch 32 ...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import numpy as np
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from labkit.ops.monitor import ModelMonitor
from labkit.serve import json_http, processes
from labkit.serve.batching import MicroBatcher, Overloaded, Predict


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
) -> web.Application:
    """The aiohttp application: POST /v1/predict, GET /healthz, GET /metrics; errors are JSON."""
    app = web.Application(client_max_size=max_body_bytes, middlewares=[json_http.errors])

    async def predict(request: web.Request) -> web.Response:
        with monitor.track():
            try:
                payload = await json_http.read_json(
                    request, timeout_s=read_timeout_s, max_bytes=max_body_bytes
                )
                x = instances_array(payload, features)
            except ValueError as error:
                monitor.errors.labels(**monitor.labels, kind="bad_request").inc()
                return json_http.error_response(getattr(error, "status", 400), str(error))
            try:
                y = await batcher.submit(x)
            except Overloaded as error:
                monitor.errors.labels(**monitor.labels, kind="overloaded").inc()
                return web.json_response({"error": str(error)}, status=503, headers={"Retry-After": "1"})
            except Exception as error:  # the model call failed: a server error, said as one
                monitor.errors.labels(**monitor.labels, kind="model").inc()
                return web.json_response({"error": f"the model failed: {error}"}, status=500)
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
    return app


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
    monitor = ModelMonitor(args.model.stem.split(".")[0], args.version)
    app = build_app(
        batcher,
        monitor,
        features=args.features,
        max_body_bytes=args.max_body_bytes,
        read_timeout_s=args.read_timeout_s,
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
