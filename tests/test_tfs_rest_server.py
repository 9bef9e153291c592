"""TF Serving REST conformance: labkit's server always, the real `tensorflow_model_server` when on PATH.

Each server runs as a real process on 127.0.0.1 through labkit.serve.processes.ServerProcess; the model is a
tiny SavedModel with four signatures: one input / one output; two inputs / two outputs; a string input with
a binary (`*_bytes`) and an int32 output; and a float input with an int32 input of another batch size.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("aiohttp")

from labkit.core import tf_env  # noqa: E402
from labkit.serve import processes, saved_models, tfs_rest_server  # noqa: E402

pytestmark = pytest.mark.server

WEIGHTS = np.arange(8, dtype=np.float32).reshape(4, 2)
READ_TIMEOUT_S = 2.0
REAL = shutil.which("tensorflow_model_server")


def export_tiny(target: Path, scale: float) -> None:
    """A SavedModel: serving_default y = x @ (scale * W); `pair` returns a + b and a - b."""
    tf = tf_env.import_tensorflow()

    class Tiny(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(WEIGHTS * scale)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            return {"y": tf.matmul(x, self.w)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 2], tf.float32, name="a"),
                tf.TensorSpec([None, 2], tf.float32, name="b"),
            ]
        )
        def pair(self, a, b):
            return {"sum": a + b, "diff": a - b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def binary(self, image_bytes):
            return {
                "doubled_bytes": tf.strings.join([image_bytes, image_bytes]),
                "length": tf.strings.length(image_bytes),
            }

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 2], tf.float32, name="x"),
                tf.TensorSpec([None], tf.int32, name="factor"),
            ]
        )
        def scaled(self, x, factor):
            return {"y": x * tf.cast(tf.reduce_sum(factor), tf.float32)}

    module = Tiny()
    signatures = {
        "serving_default": module.serve,
        "pair": module.pair,
        "binary": module.binary,
        "scaled": module.scaled,
    }
    tf.saved_model.save(module, str(target), signatures=signatures)


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("models") / "tiny"
    export_tiny(base / "1", 1.0)
    return base


def labkit_command(base: Path, port: int, batching_file: Path | None = None) -> list[str]:
    """labkit's server with the same flags a real one gets, a fast poll, and a small body limit."""
    command, _ = tfs_rest_server.server_command(
        "tiny", base, port, batching_file=batching_file, poll_s=0.2, prefer_real=False
    )
    return [*command, "--max_body_bytes=20000", f"--read_timeout_s={READ_TIMEOUT_S}"]


def real_command(base: Path, port: int) -> list[str]:
    command, which = tfs_rest_server.server_command("tiny", base, port)
    assert which == "tensorflow_model_server", which
    return command


NOT_ON_PATH = (
    "tensorflow_model_server is not on PATH (Docker image tensorflow/serving, or Google's apt repository)"
)


@pytest.fixture(
    scope="module",
    params=[
        "labkit",
        pytest.param("tensorflow_model_server", marks=pytest.mark.skipif(REAL is None, reason=NOT_ON_PATH)),
    ],
)
def server(request: pytest.FixtureRequest, base_path: Path):
    port = processes.free_port()
    command = labkit_command(base_path, port) if request.param == "labkit" else real_command(base_path, port)
    url = f"http://{processes.HOST}:{port}/v1/models/tiny"
    with processes.ServerProcess(command, url, name=request.param, timeout_s=120) as process:
        process.url, process.kind = url, request.param
        yield process


def call(url: str, body: object | bytes | None = None) -> tuple[int, dict]:
    """(status, decoded JSON) of a GET (body None) or POST."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def predict_ok(server) -> None:
    """The server still answers a valid request correctly."""
    status, answer = call(server.url + ":predict", {"instances": [[1, 0, 0, 0]]})
    assert status == 200 and answer == {"predictions": [[0.0, 1.0]]}, (status, answer)


def test_status_and_metadata(server) -> None:
    status, answer = call(server.url)
    assert status == 200, answer
    assert (
        answer["model_version_status"][0]["version"] == "1"
        and answer["model_version_status"][0]["state"] == "AVAILABLE"
    )
    status, answer = call(server.url + "/versions/1/metadata")
    inputs = answer["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert status == 200 and inputs["x"]["dtype"] == "DT_FLOAT", answer
    assert [d["size"] for d in inputs["x"]["tensor_shape"]["dim"]] == ["-1", "4"], inputs


def test_row_and_columnar_formats(server) -> None:
    x = np.eye(4, dtype=np.float32)[:2]
    status, rows = call(server.url + ":predict", {"instances": x.tolist()})
    assert status == 200 and np.allclose(rows["predictions"], x @ WEIGHTS), rows
    status, columns = call(server.url + "/versions/1:predict", {"inputs": x.tolist()})
    assert status == 200 and np.allclose(columns["outputs"], x @ WEIGHTS), columns
    status, named = call(server.url + ":predict", {"instances": [{"x": row} for row in x.tolist()]})
    assert status == 200 and named == rows, named


def test_signature_with_two_inputs_and_outputs(server) -> None:
    body = {"signature_name": "pair", "instances": [{"a": [1, 2], "b": [3, 5]}]}
    status, answer = call(server.url + ":predict", body)
    assert status == 200 and answer == {"predictions": [{"sum": [4.0, 7.0], "diff": [-2.0, -3.0]}]}, answer
    status, answer = call(
        server.url + ":predict", {"signature_name": "pair", "inputs": {"a": [[1, 2]], "b": [[3, 5]]}}
    )
    assert status == 200 and answer == {"outputs": {"sum": [[4.0, 7.0]], "diff": [[-2.0, -3.0]]}}, answer


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "json"),
        ({"instances": [[1, 2, 3]]}, 400, "shape"),
        ({"instances": [["a", "b", "c", "d"]]}, 400, ""),
        ({"instances": []}, 400, ""),
        ({"signature_name": "nope", "instances": [[1, 0, 0, 0]]}, 400, "nope"),
        ({"instances": [[1, 0, 0, 0]], "inputs": [[1, 0, 0, 0]]}, 400, ""),
    ],
    ids=[
        "malformed-json",
        "wrong-shape",
        "wrong-dtype",
        "empty-instances",
        "unknown-signature",
        "both-formats",
    ],
)
def test_bad_requests_get_400_and_the_server_keeps_serving(server, body, status, words) -> None:
    code, answer = call(server.url + ":predict", body)
    assert code == status and "error" in answer, (code, answer)
    assert words.lower() in answer["error"].lower(), answer
    predict_ok(server)


def test_unknown_model_version_and_label_get_404(server) -> None:
    root = server.url.rsplit("/", 1)[0]
    for url in (
        root + "/other:predict",
        server.url + "/versions/9:predict",
        server.url + "/labels/nope:predict",
    ):
        code, answer = call(url, {"instances": [[1, 0, 0, 0]]})
        assert code == 404 and "error" in answer, (url, code, answer)
    predict_ok(server)


def test_servable_not_found_is_worded_as_the_real_server_words_it(server) -> None:
    """Clients parse these messages, so they match TensorFlow Serving's documented wording."""
    root = server.url.rsplit("/", 1)[0]
    for url, expected in (
        (root + "/other:predict", "Servable not found for request: Latest(other)"),
        (server.url + "/versions/9:predict", "Servable not found for request: Specific(tiny, 9)"),
    ):
        code, answer = call(url, {"instances": [[1, 0, 0, 0]]})
        assert (code, answer.get("error")) == (404, expected), (url, code, answer)


def b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode()}


def test_binary_inputs_in_b64_and_bytes_outputs_come_back_in_b64(server) -> None:
    blobs = [b"\x00\xffimage", b"\x89PNG\r\n"]
    status, answer = call(
        server.url + ":predict", {"signature_name": "binary", "instances": [b64(b) for b in blobs]}
    )
    expected = [{"doubled_bytes": b64(b + b), "length": len(b)} for b in blobs]
    assert (status, answer) == (200, {"predictions": expected}), answer
    status, answer = call(
        server.url + ":predict", {"signature_name": "binary", "inputs": {"image_bytes": [b64(blobs[0])]}}
    )
    wanted = {"outputs": {"doubled_bytes": [b64(blobs[0] * 2)], "length": [len(blobs[0])]}}
    assert (status, answer) == (200, wanted), answer
    status, answer = call(server.url + ":predict", {"signature_name": "binary", "instances": ["text"]})
    assert status == 200 and answer["predictions"][0]["length"] == 4, answer


def test_columnar_inputs_may_differ_in_their_0th_dimension(server) -> None:
    body = {"signature_name": "scaled", "inputs": {"x": [[1, 2], [3, 4]], "factor": [1, 2, 3]}}
    status, answer = call(server.url + ":predict", body)
    assert (status, answer) == (200, {"outputs": [[6.0, 12.0], [18.0, 24.0]]}), answer


@pytest.mark.parametrize(
    ("factor", "shown"),
    [(2**32, "4294967296"), (-(2**31) - 1, "-2147483649"), (1.5, "1.5"), (2**70, str(2**70)), ("3", '"3"')],
    ids=["over-int32", "under-int32", "fraction", "over-int64", "string"],
)
def test_an_int32_input_refuses_values_it_cannot_hold(server, factor, shown) -> None:
    body = {"signature_name": "scaled", "inputs": {"x": [[1, 2]], "factor": [1, factor]}}
    code, answer = call(server.url + ":predict", body)
    assert code == 400 and "error" in answer, (code, answer)
    if server.kind == "labkit":
        assert all(w in answer["error"] for w in ("'factor'", "int32", shown)), answer
    predict_ok(server)


@pytest.mark.parametrize("depth", [3_000, 100_000])
def test_deeply_nested_json_is_a_400_json_error(server, depth: int) -> None:
    body = b'{"instances": ' + b"[" * depth + b"]" * depth + b"}"
    if len(body) > 20_000 and server.kind == "labkit":
        body = b"[" * 9_000 + b"]" * 9_000  # under the test server's body limit
    code, answer = call(server.url + ":predict", body)
    assert code == 400 and "error" in answer, (code, answer)
    predict_ok(server)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/other", 404), ("DELETE", "/v1/models/tiny:predict", 405), ("GET", "/", 404)],
)
def test_every_error_body_is_json_with_an_error_key(server, method: str, path: str, status: int) -> None:
    root = server.url.split("/v1/")[0]
    request = urllib.request.Request(root + path, method=method)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    body = refused.value.read()
    assert refused.value.code == status, (refused.value.code, body[:200])
    assert refused.value.headers.get_content_type() == "application/json", body[:200]
    assert isinstance(json.loads(body).get("error"), str), body[:200]


def test_bad_base64_is_a_400_naming_the_input(server) -> None:
    code, answer = call(
        server.url + ":predict", {"signature_name": "binary", "instances": [{"b64": "not base64!"}]}
    )
    assert code == 400 and "error" in answer, (code, answer)
    if server.kind == "labkit":
        assert "'image_bytes'" in answer["error"] and "base64" in answer["error"], answer


def test_stalled_connections_are_answered_and_closed(server) -> None:
    if server.kind != "labkit":
        pytest.skip("--read_timeout_s is a labkit extension")
    host, port = server.url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as body_never_sent:
        body_never_sent.sendall(
            b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        )
        with socket.create_connection((host, int(port)), timeout=10) as headers_never_ended:
            headers_never_ended.sendall(b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\n")
            start = time.perf_counter()
            answer = body_never_sent.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408") and b'"error"' in answer, answer[:200]
            assert body_never_sent.recv(4096) == b"", "the stalled connection was left open"
            assert headers_never_ended.recv(4096) == b"", "a connection with unfinished headers stayed open"
            waited = time.perf_counter() - start
    assert waited < READ_TIMEOUT_S + 3, f"closed after {waited:.1f} s; the timeout is {READ_TIMEOUT_S} s"
    predict_ok(server)


def test_oversized_payload_is_refused(server) -> None:
    if server.kind != "labkit":
        pytest.skip("the body limit (--max_body_bytes) is a labkit extension")
    code, answer = call(server.url + ":predict", {"instances": [[0.5] * 4] * 2000})
    assert code == 413 and "larger than 20,000 bytes" in answer["error"], (code, answer)
    predict_ok(server)


def test_new_version_is_served_without_failed_requests(base_path: Path) -> None:
    """A second labkit server on a copy of the base path: version 2 appears while requests run."""
    base = base_path.parent / "hot"
    shutil.copytree(base_path, base)
    port = processes.free_port()
    url = f"http://{processes.HOST}:{port}/v1/models/tiny"
    failures: list[object] = []
    answers: list[float] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            code, answer = call(url + ":predict", {"instances": [[1, 0, 0, 0]]})
            if code != 200:
                failures.append((code, answer))
            else:
                answers.append(answer["predictions"][0][1])

    with processes.ServerProcess(labkit_command(base, port), url, name="hot", timeout_s=120):
        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(0.5)
        staging = base.parent / "staging-2"
        export_tiny(staging, 10.0)
        staging.rename(base / "2")  # appear whole, as a deploy script should
        deadline = time.time() + 60
        while time.time() < deadline and (not answers or answers[-1] != 10.0):
            time.sleep(0.2)
        stop.set()
        worker.join()
        status = call(url)[1]["model_version_status"]
    assert not failures, failures[:3]
    assert answers[0] == 1.0 and answers[-1] == 10.0, (answers[0], answers[-1])
    assert [s["version"] for s in status] == ["2"], status


def test_server_side_batching_answers_each_request(base_path: Path, tmp_path: Path) -> None:
    params = tmp_path / "batching.txt"
    params.write_text(saved_models.batching_parameters_text(16, 20_000))
    port = processes.free_port()
    url = f"http://{processes.HOST}:{port}/v1/models/tiny"
    command = labkit_command(base_path, port, params)
    results: dict[int, object] = {}

    def one(i: int) -> None:
        x = np.zeros((1, 4), np.float32)
        x[0, i % 4] = i
        results[i] = (call(url + ":predict", {"instances": x.tolist()}), (x @ WEIGHTS).tolist())

    with processes.ServerProcess(command, url, name="batching", timeout_s=120):
        threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wrong = [
        i
        for i, ((code, answer), expected) in results.items()
        if code != 200 or answer["predictions"] != expected
    ]
    assert len(results) == 24 and not wrong, [results[i] for i in wrong[:3]]


def test_batching_parameters_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text(saved_models.batching_parameters_text(32, 1500))
    assert saved_models.read_batching_parameters(path) == (32, 0.0015)
    path.write_text("max_batch_size { value: 8 }")
    with pytest.raises(ValueError, match="batch_timeout_micros"):
        saved_models.read_batching_parameters(path)


def test_port_in_use_and_relative_path_fail_with_a_clear_message(base_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind((processes.HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        process = processes.ServerProcess(
            labkit_command(base_path, port), f"http://{processes.HOST}:{port}/", timeout_s=60
        )
        with pytest.raises(RuntimeError, match=f"port {port} on 127.0.0.1 is already in use"):
            process.start()
    relative = processes.ServerProcess(
        labkit_command(Path("models/tiny"), processes.free_port()), "http://127.0.0.1:1/", timeout_s=60
    )
    with pytest.raises(RuntimeError, match="must be absolute"):
        relative.start()


def test_a_server_that_dies_is_reported_with_its_log(base_path: Path) -> None:
    port = processes.free_port()
    url = f"http://{processes.HOST}:{port}/v1/models/tiny"
    with processes.ServerProcess(
        labkit_command(base_path, port), url, name="doomed", timeout_s=120
    ) as process:
        process.process.kill()
        process.process.wait()
        with pytest.raises(
            RuntimeError, match=r"doomed is not running \(exit code -9\); its log ends:\n.*serving tiny"
        ):
            process.check()


def test_leaving_the_block_stops_the_process_group(base_path: Path) -> None:
    port = processes.free_port()
    url = f"http://{processes.HOST}:{port}/v1/models/tiny"
    with processes.ServerProcess(labkit_command(base_path, port), url, timeout_s=120) as process:
        pid = process.process.pid
    assert process.process.poll() is not None, "the server still runs after the with block"
    with pytest.raises(ProcessLookupError):
        import os

        os.killpg(pid, 0)
    processes.ensure_port_free(port)
