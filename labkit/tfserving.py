"""The TensorFlow Serving REST API on aiohttp, for machines without `tensorflow_model_server`.

`tensorflow_model_server` is not installable from PyPI or Debian, so notebook 09 uses it when it is on PATH
and this server otherwise. It follows the documented REST protocol, not a subset shaped by one client:
model status (`GET /v1/models/{name}[/versions/{v}|/labels/{l}]`), `.../metadata` (the signature defs),
`POST ...:predict` in row (`instances`) and columnar (`inputs`) format with `signature_name`, answers
`predictions` / `outputs`, errors as `{"error": "..."}` with 400 (bad request) or 404 (unknown model, version,
label). It serves the latest numeric version under an absolute model base path, polls for new versions and
swaps them in without dropping requests in flight, and batches requests server-side when asked
(`--enable_batching`, `--batching_parameters_file` in TF Serving's text format). Run it as
`python -m labkit.tfserving --model_name NAME --model_base_path /abs/path --rest_api_port PORT`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from labkit import servers

_ROUTE = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?(?P<suffix>/metadata|:[a-z]+)?$"
)
_DTYPES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int32": "DT_INT32", "int64": "DT_INT64"}


class RequestError(Exception):
    """A client mistake: answered with this status and {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Version:
    """One loaded SavedModel version: its signatures' input and output specs and the callables."""

    number: int
    path: Path
    loaded: Any
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, number: int, path: Path) -> Version:
        from labkit import tf_env

        tf = tf_env.import_tensorflow()
        loaded = tf.saved_model.load(str(path))
        version = cls(number, path, loaded)
        for name, fn in loaded.signatures.items():
            version.inputs[name] = dict(fn.structured_input_signature[1])
            version.outputs[name] = dict(fn.structured_outputs)
        if not version.inputs:
            raise ValueError(f"{path} has no serving signatures; export it with a `signatures=` argument.")
        return version

    def run(self, signature: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        fn = self.loaded.signatures[signature]
        return {key: value.numpy() for key, value in fn(**arrays).items()}


def export(model: Any, base: Path, version: int, input_name: str = "pixels") -> Path:
    """Save a Keras model as version `version` under `base`: `input_name` -> `probabilities`.

    The SavedModel is written to a staging directory and renamed into place, so a polling server never
    sees half a version. The signature takes the model's own input shape with a free batch dimension.
    """
    from labkit.tf_env import import_tensorflow, quiet

    tf = import_tensorflow()
    target = Path(base) / str(version)
    if target.exists():
        raise FileExistsError(f"{target} exists; versions are immutable, so export as version {version + 1}.")
    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name=input_name)

    @tf.function(input_signature=[spec])
    def serve(x):
        return {"probabilities": model(x, training=False)}

    staging = Path(base) / f".staging-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    with quiet():
        tf.saved_model.save(model, str(staging), signatures={"serving_default": serve})
    staging.rename(target)
    return target


def discover(base: Path) -> list[int]:
    """Numeric version directories under the model base path that hold a saved_model.pb, ascending."""
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").exists())


def _spec_json(spec: Any) -> dict[str, Any]:
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
    return {
        "dtype": _DTYPES.get(spec.dtype.name, spec.dtype.name),
        "tensor_shape": {"dim": dims, "unknown_rank": False},
        "name": spec.name or "",
    }


def _convert(name: str, value: Any, spec: Any, rows: bool) -> np.ndarray:
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
    arrays = {n: _convert(n, columns[n], specs[n], rows) for n in specs}
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


class Batcher:
    """Server-side batching: requests for one version and signature are joined into one model call.

    A batch closes when it holds `max_batch_size` examples or `timeout_s` after its first request. A
    request larger than the limit runs alone. The model runs in a worker thread; answers are split back.
    """

    def __init__(self, max_batch_size: int, timeout_s: float) -> None:
        self.max_batch_size, self.timeout_s = max_batch_size, timeout_s
        self.queues: dict[tuple[int, str], asyncio.Queue] = {}
        self.tasks: list[asyncio.Task] = []

    async def submit(
        self, version: Version, signature: str, arrays: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        key = (version.number, signature)
        if key not in self.queues:
            self.queues[key] = asyncio.Queue()
            self.tasks.append(asyncio.create_task(self._drain(version, signature, self.queues[key])))
        future = asyncio.get_running_loop().create_future()
        await self.queues[key].put((arrays, future))
        return await future

    async def _drain(self, version: Version, signature: str, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pending = [await queue.get()]
            size = len(next(iter(pending[0][0].values())))
            deadline = loop.time() + self.timeout_s
            while size < self.max_batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                pending.append(item)
                size += len(next(iter(item[0].values())))
            joined = {n: np.concatenate([arrays[n] for arrays, _ in pending]) for n in pending[0][0]}
            try:
                outputs = await loop.run_in_executor(None, version.run, signature, joined)
            except Exception as error:  # the model failed: every waiting request gets the error
                for _, future in pending:
                    if not future.done():
                        future.set_exception(error)
                continue
            start = 0
            for arrays, future in pending:
                n = len(next(iter(arrays.values())))
                if not future.done():
                    future.set_result({k: v[start : start + n] for k, v in outputs.items()})
                start += n


class ModelServer:
    """The served model: its loaded versions, labels, polling for new versions, batching, routes."""

    def __init__(
        self,
        name: str,
        base_path: Path,
        labels: dict[str, int] | None = None,
        poll_s: float = 1.0,
        batcher: Batcher | None = None,
        max_body_bytes: int = 16 * 2**20,
        keep_versions: int = 1,
    ) -> None:
        if not base_path.is_absolute():
            raise ValueError(
                f"--model_base_path must be absolute (TensorFlow Serving requires it); got {base_path}."
            )
        self.name, self.base_path, self.labels = name, base_path, dict(labels or {})
        self.poll_s, self.batcher, self.max_body_bytes = poll_s, batcher, max_body_bytes
        self.keep_versions = keep_versions
        self.versions: dict[int, Version] = {}

    def refresh(self) -> bool:
        """Serve the newest `keep_versions` versions (TF Serving's `latest` policy); load what is new."""
        wanted = discover(self.base_path)[-self.keep_versions :]
        if not wanted or set(wanted) == set(self.versions):
            return False
        loaded = {n: self.versions.get(n) or Version.load(n, self.base_path / str(n)) for n in wanted}
        self.versions = loaded  # one assignment: requests in flight keep the objects they resolved
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

    def _resolve(self, match: re.Match) -> Version:
        if match["name"] != self.name:
            raise RequestError(
                404, f"Servable not found for request: model {match['name']!r} (serving {self.name!r})."
            )
        if match["label"] is not None:
            if match["label"] not in self.labels:
                raise RequestError(
                    404, f"unknown version label {match['label']!r}; labels: {sorted(self.labels)}."
                )
            number = self.labels[match["label"]]
        elif match["version"] is not None:
            if not match["version"].isdigit():
                raise RequestError(400, f"version must be a number; got {match['version']!r}.")
            number = int(match["version"])
        else:
            if not self.versions:
                raise RequestError(404, f"no version of {self.name!r} is loaded under {self.base_path}.")
            number = max(self.versions)
        version = self.versions.get(number)
        if version is None:
            raise RequestError(
                404,
                f"Servable not found for request: {self.name} version {number} "
                f"(loaded: {sorted(self.versions)}).",
            )
        return version

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
                "inputs": {n: _spec_json(s) for n, s in version.inputs[sig].items()},
                "outputs": {n: _spec_json(s) for n, s in version.outputs[sig].items()},
                "method_name": "tensorflow/serving/predict",
            }
            for sig in version.inputs
        }
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(version.number)},
            "metadata": {"signature_def": {"signature_def": signature_def}},
        }

    async def handle(self, request: web.Request) -> web.Response:
        try:
            match = _ROUTE.match(request.match_info["tail"])
            if match is None:
                raise RequestError(404, f"unknown path {request.path}; see the TensorFlow Serving REST API.")
            suffix = match["suffix"]
            if request.method == "GET" and suffix in (None, "/metadata"):
                version = self._resolve(match)
                if suffix == "/metadata":
                    return web.json_response(self._metadata(version))
                explicit = match["version"] is not None or match["label"] is not None
                return web.json_response(
                    self._status([version] if explicit else list(self.versions.values()))
                )
            if request.method == "POST" and suffix == ":predict":
                return await self._predict(request, self._resolve(match))
            if suffix in (":classify", ":regress"):
                raise RequestError(
                    400, f"{suffix[1:]} needs a classification/regression signature; use :predict."
                )
            raise RequestError(
                405 if suffix else 404, f"{request.method} {request.path} is not part of the API."
            )
        except RequestError as error:
            return web.json_response({"error": str(error)}, status=error.status)

    async def _predict(self, request: web.Request, version: Version) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RequestError(
                413, f"the request body is larger than {self.max_body_bytes:,} bytes."
            ) from None
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RequestError(400, f"malformed JSON: {error}.") from None
        signature, arrays, rows = parse_request(payload, version)
        if self.batcher is not None:
            outputs = await self.batcher.submit(version, signature, arrays)
        else:
            outputs = await asyncio.get_running_loop().run_in_executor(None, version.run, signature, arrays)
        return web.json_response(format_response(outputs, rows))

    def app(self) -> web.Application:
        application = web.Application(client_max_size=self.max_body_bytes)
        application.router.add_route("*", "/v1/models/{tail:.*}", self.handle)

        async def background(app: web.Application):
            poller = asyncio.create_task(self._poll())
            yield
            poller.cancel()
            for task in self.batcher.tasks if self.batcher else []:
                task.cancel()

        application.cleanup_ctx.append(background)
        return application


def read_batching_parameters(path: Path) -> tuple[int, float]:
    """max_batch_size and batch_timeout_micros (as seconds) from TF Serving's batching parameters file."""
    text = path.read_text()
    size = re.search(r"max_batch_size\s*\{\s*value:\s*(\d+)\s*\}", text)
    micros = re.search(r"batch_timeout_micros\s*\{\s*value:\s*(\d+)\s*\}", text)
    if size is None or micros is None:
        raise ValueError(
            f"{path} needs 'max_batch_size {{ value: N }}' and 'batch_timeout_micros {{ value: N }}'."
        )
    return int(size.group(1)), int(micros.group(1)) / 1e6


def batching_parameters_text(max_batch_size: int, batch_timeout_micros: int) -> str:
    """A batching parameters file in TensorFlow Serving's text format."""
    return (
        f"max_batch_size {{ value: {max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
    )


def server_command(
    model_name: str,
    base_path: Path,
    port: int,
    batching_file: Path | None = None,
    poll_s: float = 1.0,
    prefer_real: bool = True,
) -> tuple[list[str], str]:
    """The command serving a model base path: `tensorflow_model_server` when on PATH, else this module.

    Both take the same flags; returns (command, which server).
    """
    real = shutil.which("tensorflow_model_server") if prefer_real else None
    flags = {"model_name": model_name, "model_base_path": base_path, "rest_api_port": port}
    if real:
        flags |= {"port": servers.free_port(), "file_system_poll_wait_seconds": max(1, round(poll_s))}
    else:
        flags["file_system_poll_wait_seconds"] = poll_s
    command = [real] if real else [sys.executable, "-m", "labkit.tfserving"]
    command += [f"--{k}={v}" for k, v in flags.items()]
    if batching_file is not None:
        command += ["--enable_batching", f"--batching_parameters_file={batching_file}"]
    return command, "tensorflow_model_server" if real else "labkit.tfserving"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.tfserving", description=__doc__.splitlines()[0])
    parser.add_argument("--model_name", default="default")
    parser.add_argument("--model_base_path", required=True, type=Path)
    parser.add_argument("--rest_api_port", required=True, type=int)
    parser.add_argument("--enable_batching", action="store_true")
    parser.add_argument("--batching_parameters_file", type=Path)
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0)
    parser.add_argument("--version_labels", default="", help="labkit extension: name=version,...")
    parser.add_argument("--max_body_bytes", type=int, default=16 * 2**20, help="labkit extension")
    parser.add_argument(
        "--num_versions", type=int, default=1, help="labkit extension: versions served (latest N)"
    )
    args = parser.parse_args(argv)
    try:
        servers.ensure_port_free(args.rest_api_port)
        labels = {
            k: int(v) for k, v in (pair.split("=", 1) for pair in args.version_labels.split(",") if pair)
        }
        batcher = None
        if args.enable_batching:
            size, timeout = (
                read_batching_parameters(args.batching_parameters_file)
                if args.batching_parameters_file
                else (32, 0.002)
            )
            batcher = Batcher(size, timeout)
        server = ModelServer(
            args.model_name,
            args.model_base_path,
            labels,
            args.file_system_poll_wait_seconds,
            batcher,
            args.max_body_bytes,
            args.num_versions,
        )
        from labkit import tf_env

        tf_env.import_tensorflow()
        server.refresh()
        if not server.versions:
            raise ValueError(f"no version directory with a saved_model.pb under {args.model_base_path}.")
    except (ValueError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"serving {args.model_name} on http://{servers.HOST}:{args.rest_api_port} (batching {bool(batcher)})",
        flush=True,
    )
    web.run_app(server.app(), host=servers.HOST, port=args.rest_api_port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
