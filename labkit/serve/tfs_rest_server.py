"""A server that speaks TensorFlow Serving's REST API (on aiohttp) and, with `--port`, its gRPC API
(`labkit.serve.tfs_grpc`); it is not TensorFlow Serving.

Notebooks 09 and 13 use the real `tensorflow_model_server` when it is on PATH and this server otherwise:
status, metadata and predict (row and columnar) under `/v1/models/...`, version polling with hot swap and
server-side batching, with the real server's flags. Run it as
`python -m labkit.serve.tfs_rest_server --model_name NAME --model_base_path /abs/path --rest_api_port PORT`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import shutil
import sys
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from labkit.serve import json_http, processes, tfs_protocol
from labkit.serve.batching import MicroBatcher, Overloaded
from labkit.serve.json_http import RequestError
from labkit.serve.saved_models import Version, discover, read_batching_parameters
from labkit.serve.tfs_protocol import format_response, parse_request

_ROUTE = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?(?P<suffix>/metadata|:[a-z]+)?$"
)


class ModelServer:
    """The served model: its loaded versions, labels, polling for new versions, batching, routes."""

    def __init__(
        self,
        name: str,
        base_path: Path,
        *,
        labels: dict[str, int] | None = None,
        poll_s: float = 1.0,
        batching: tuple[int, float] | None = None,
        max_body_bytes: int = 16 * 2**20,
        keep_versions: int = 1,
        read_timeout_s: float = 30.0,
        grpc_port: int | None = None,
    ) -> None:
        """`batching` is (max_batch_size, batch_timeout_s) when server-side batching is on; a request
        whose body has not arrived `read_timeout_s` after its headers is answered 408 and closed; the gRPC
        API listens on `grpc_port` when one is given."""
        if not base_path.is_absolute():
            raise ValueError(
                f"--model_base_path must be absolute (TensorFlow Serving requires it); got {base_path}."
            )
        self.name, self.base_path, self.labels = name, base_path, dict(labels or {})
        self.poll_s, self.batching, self.max_body_bytes = poll_s, batching, max_body_bytes
        self.keep_versions, self.read_timeout_s, self.grpc_port = keep_versions, read_timeout_s, grpc_port
        self.versions: dict[int, Version] = {}
        self.batchers: dict[tuple[int, str], tuple[MicroBatcher, asyncio.Task]] = {}

    def refresh(self) -> bool:
        """Serve the newest `keep_versions` versions (TF Serving's `latest` policy); load what is new."""
        wanted = discover(self.base_path)[-self.keep_versions :]
        if not wanted or set(wanted) == set(self.versions):
            return False
        loaded = {n: self.versions.get(n) or Version.load(n, self.base_path / str(n)) for n in wanted}
        self.versions = loaded  # one assignment: requests in flight keep the objects they resolved
        gc.freeze()  # a full collection over TensorFlow's objects pauses every request in flight
        print(f"serving {self.name} versions {sorted(loaded)} from {self.base_path}", flush=True)
        return True

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await loop.run_in_executor(None, self.refresh)
            except Exception as error:  # a half-written version: try again at the next poll
                print(f"could not load a new version yet: {error}", flush=True)

    def resolve(self, name: str, version: str | None = None, label: str | None = None) -> Version:
        """The loaded version a request names (the latest when neither `version` nor `label` is given),
        or RequestError 404 in the real server's words; shared by the REST and gRPC APIs."""
        if name != self.name:
            raise RequestError(404, f"Servable not found for request: Latest({name})")
        if label:
            if label not in self.labels:
                raise RequestError(404, f"unknown version label {label!r}; labels: {sorted(self.labels)}.")
            number = self.labels[label]
        elif version is not None:
            if not version.isdigit():
                raise RequestError(400, f"version must be a number; got {version!r}.")
            number = int(version)
        else:
            if not self.versions:
                raise RequestError(404, f"Servable not found for request: Latest({self.name})")
            number = max(self.versions)
        found = self.versions.get(number)
        if found is None:  # the real server's wording, which clients parse; the loaded ones are in GET
            raise RequestError(404, f"Servable not found for request: Specific({self.name}, {number})")
        return found

    def _status(self, versions: list[Version]) -> dict[str, Any]:
        return {
            "model_version_status": [
                {
                    "version": str(v.number),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
                for v in versions
            ]
        }

    def _metadata(self, version: Version) -> dict[str, Any]:
        signature_def = {
            sig: {
                "inputs": {n: tfs_protocol.spec_json(s) for n, s in version.inputs[sig].items()},
                "outputs": {n: tfs_protocol.spec_json(s) for n, s in version.outputs[sig].items()},
                "method_name": "tensorflow/serving/predict",
            }
            for sig in version.inputs
        }
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(version.number)},
            "metadata": {"signature_def": {"signature_def": signature_def}},
        }

    async def handle(self, request: web.Request) -> web.Response:
        """Status, metadata and predict; every refusal is a JSON error (see `json_http.errors`)."""
        match = _ROUTE.match(request.match_info["tail"])
        if match is None:
            raise RequestError(404, f"unknown path {request.path}; see the TensorFlow Serving REST API.")
        suffix = match["suffix"]
        if request.method == "GET" and suffix in (None, "/metadata"):
            version = self.resolve(match["name"], match["version"], match["label"])
            if suffix == "/metadata":
                return web.json_response(self._metadata(version))
            explicit = match["version"] is not None or match["label"] is not None
            return web.json_response(self._status([version] if explicit else list(self.versions.values())))
        if request.method == "POST" and suffix == ":predict":
            version = self.resolve(match["name"], match["version"], match["label"])
            return await self._predict(request, version)
        if suffix in (":classify", ":regress"):
            raise RequestError(
                400, f"{suffix[1:]} needs a classification/regression signature; use :predict."
            )
        raise RequestError(405 if suffix else 404, f"{request.method} {request.path} is not part of the API.")

    async def _predict(self, request: web.Request, version: Version) -> web.Response:
        payload = await json_http.read_json(
            request, timeout_s=self.read_timeout_s, max_bytes=self.max_body_bytes
        )
        signature, arrays, rows = parse_request(payload, version)
        return web.json_response(format_response(await self.infer(version, signature, arrays), rows))

    async def infer(self, version: Version, signature: str, arrays: dict[str, Any]) -> dict[str, Any]:
        """The signature's outputs, through the micro-batcher when batching is on (REST and gRPC alike)."""
        if self.batching is None:
            return await asyncio.get_running_loop().run_in_executor(None, _run, version, signature, arrays)
        sizes = {a.shape[0] if a.ndim else None for a in arrays.values()}
        if len(sizes) > 1 or None in sizes:
            raise RequestError(
                400, "with server-side batching every input needs the same 0-th (batch) dimension."
            )
        try:
            return await self._batcher(version, signature).submit(arrays)
        except Overloaded as error:
            raise RequestError(503, str(error)) from None

    def _batcher(self, version: Version, signature: str) -> MicroBatcher:
        """One micro-batcher per version and signature, started on its first request.

        Batchers of versions no longer served are retired here once idle, so an unloaded model is freed.
        """
        for old in [k for k, (b, _) in self.batchers.items() if k[0] not in self.versions and b.idle]:
            batcher, task = self.batchers.pop(old)
            task.cancel()
            batcher.close(wait=False)
        key = (version.number, signature)
        if key not in self.batchers:
            assert self.batching is not None, "batchers exist only when batching is on"
            max_batch, timeout_s = self.batching
            batcher = MicroBatcher(
                partial(_run, version, signature),
                max_batch=max_batch,
                max_wait_ms=timeout_s * 1000,
                queue_limit=100_000,
            )
            self.batchers[key] = batcher, asyncio.create_task(batcher.run())
        return self.batchers[key][0]

    def app(self) -> web.Application:
        application = web.Application(client_max_size=self.max_body_bytes, middlewares=[json_http.errors])
        application.router.add_route("*", "/v1/models/{tail:.*}", self.handle)

        async def background(app: web.Application):
            poller = asyncio.create_task(self._poll())
            grpc_server = None
            if self.grpc_port:
                from labkit.serve import tfs_grpc

                grpc_server = await tfs_grpc.start(
                    self, self.grpc_port, max_message_bytes=self.max_body_bytes
                )
            yield
            if grpc_server is not None:
                await grpc_server.stop(grace=1)
            poller.cancel()
            for batcher, task in self.batchers.values():
                task.cancel()
                batcher.close()

        application.cleanup_ctx.append(background)
        return application


def _run(version: Version, signature: str, arrays: dict[str, Any]) -> dict[str, Any]:
    """The signature's outputs; inputs the graph refuses (TensorFlow's INVALID_ARGUMENT) are a 400."""
    from labkit.core import tf_env

    try:
        return version.run(signature, arrays)
    except tf_env.import_tensorflow().errors.InvalidArgumentError as error:
        raise RequestError(400, f"the model refused the inputs: {error.message.splitlines()[0]}") from None


def server_command(
    model_name: str,
    base_path: Path,
    port: int,
    *,
    batching_file: Path | None = None,
    poll_s: float = 1.0,
    prefer_real: bool = True,
    grpc_port: int | None = None,
) -> tuple[list[str], str]:
    """The command serving a model base path: `tensorflow_model_server` when on PATH, else this module.

    Both take the same flags (`--port` is the gRPC port; the real server always opens one); returns
    (command, which server).
    """
    real = shutil.which("tensorflow_model_server") if prefer_real else None
    flags: dict[str, object] = {"model_name": model_name, "model_base_path": base_path, "rest_api_port": port}
    if real:
        flags |= {"port": grpc_port or processes.free_port()}
        flags["file_system_poll_wait_seconds"] = max(1, round(poll_s))
    else:
        flags["file_system_poll_wait_seconds"] = poll_s
        if grpc_port:
            flags["port"] = grpc_port
    command = [real] if real else [sys.executable, "-m", "labkit.serve.tfs_rest_server"]
    command += [f"--{k}={v}" for k, v in flags.items()]
    if batching_file is not None:
        command += ["--enable_batching", f"--batching_parameters_file={batching_file}"]
    return command, "tensorflow_model_server" if real else "labkit.serve.tfs_rest_server"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.serve.tfs_rest_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model_name", default="default")
    parser.add_argument("--model_base_path", required=True, type=Path)
    parser.add_argument("--rest_api_port", required=True, type=int)
    parser.add_argument("--port", type=int, default=0, help="the gRPC API's port (0: no gRPC API)")
    parser.add_argument("--enable_batching", action="store_true")
    parser.add_argument("--batching_parameters_file", type=Path)
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0)
    parser.add_argument("--version_labels", default="", help="labkit extension: name=version,...")
    parser.add_argument("--max_body_bytes", type=int, default=16 * 2**20, help="labkit extension")
    parser.add_argument(
        "--num_versions", type=int, default=1, help="labkit extension: versions served (latest N)"
    )
    parser.add_argument(
        "--read_timeout_s",
        type=float,
        default=30.0,
        help="labkit extension: close a connection whose request has not arrived in this time",
    )
    args = parser.parse_args(argv)
    try:
        processes.ensure_port_free(args.rest_api_port)
        if args.port:
            processes.ensure_port_free(args.port)
        labels = {
            k: int(v) for k, v in (pair.split("=", 1) for pair in args.version_labels.split(",") if pair)
        }
        batching = None
        if args.enable_batching:
            batching = (
                read_batching_parameters(args.batching_parameters_file)
                if args.batching_parameters_file
                else (32, 0.002)
            )
        server = ModelServer(
            args.model_name,
            args.model_base_path,
            labels=labels,
            poll_s=args.file_system_poll_wait_seconds,
            batching=batching,
            max_body_bytes=args.max_body_bytes,
            keep_versions=args.num_versions,
            read_timeout_s=args.read_timeout_s,
            grpc_port=args.port or None,
        )
        from labkit.core import tf_env

        tf_env.import_tensorflow()
        server.refresh()
        if not server.versions:
            raise ValueError(f"no version directory with a saved_model.pb under {args.model_base_path}.")
    except (ValueError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"serving {args.model_name} on http://{processes.HOST}:{args.rest_api_port} "
        f"(batching {bool(batching)})",
        flush=True,
    )
    web.run_app(
        server.app(),
        host=processes.HOST,
        port=args.rest_api_port,
        print=None,
        keepalive_timeout=args.read_timeout_s,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
