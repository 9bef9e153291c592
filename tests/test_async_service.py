"""labkit.serve.async_service with labkit.serve.loadgen: answers, 4xx, back-pressure, graceful shutdown.

The service tests run `python -m labkit.serve.async_service` as a real process on loopback with a small
TorchScript MLP and drive it with the fixed async client.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from prometheus_client.parser import text_string_to_metric_families

from labkit.models import torch_models
from labkit.serve import async_service, batching, loadgen, processes

ROW = np.full((1, 784), 0.5, np.float32)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{oops", "malformed JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (json.dumps({"instances": [[1.0] * 5]}).encode(), "shape [n >= 1, 784]; got [1, 5]"),
        (json.dumps({"instances": []}).encode(), "got [0]"),
        (json.dumps({"instances": [["a"] * 784]}).encode(), "equal-length lists of numbers"),
        (json.dumps({"instances": [[float("nan")] * 784]}).encode(), "NaN or infinity"),
    ],
)
def test_parse_instances_names_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        async_service.parse_instances(body, 784)
    assert message in str(refused.value), f"{str(refused.value)!r} lacks {message!r}"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(torch_models.build("mlp").eval())
    target = tmp_path_factory.mktemp("model") / "mlp.torchscript.pt"
    scripted.save(str(target))
    return target


def service(model_file: Path, **flags: object) -> processes.ServerProcess:
    port = processes.free_port()
    command = async_service.command(model_file, port, **flags)
    process = processes.ServerProcess(
        command, f"http://{processes.HOST}:{port}/healthz", "async_service", timeout_s=60
    )
    process.url = f"http://{processes.HOST}:{port}"
    return process


@pytest.fixture(scope="module")
def running(model_file: Path) -> Iterator[processes.ServerProcess]:
    with service(model_file, max_body_bytes=50_000) as process:
        yield process


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_answers_match_the_model_in_input_order(running: processes.ServerProcess, model_file: Path) -> None:
    x = [np.random.default_rng(i).random((1 + i % 3, 784), dtype=np.float32) for i in range(40)]
    outcomes = asyncio.run(loadgen.predict_all(running.url + "/v1/predict", x, concurrency=16))
    model = torch.jit.load(str(model_file))
    with torch.inference_mode():
        expected = [model(torch.from_numpy(b)).softmax(1).numpy() for b in x]
    assert [o.index for o in outcomes] == list(range(40)), "outcomes out of input order"
    worst = max(float(np.abs(o.predictions - e).max()) for o, e in zip(outcomes, expected, strict=True))
    assert all(o.ok for o in outcomes) and worst < 1e-5, f"worst difference {worst:.2e}"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{oops", 400),
        (json.dumps({"instances": [[0.5] * 7]}).encode(), 400),
        (b"0" * 60_000, 413),
        (b"[" * 3_000 + b"]" * 3_000, 400),
        (b'{"instances": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 400),
        (b"\xff\xfe{}", 400),
    ],
    ids=["malformed", "wrong-shape", "oversized", "nested-3000", "nested-20000", "not-utf8"],
)
@pytest.mark.server
def test_bad_requests_get_a_json_4xx_and_the_service_keeps_answering(
    running: processes.ServerProcess, body: bytes, status: int
) -> None:
    refused = requests.post(running.url + "/v1/predict", data=body, timeout=10)
    assert refused.status_code == status, f"{refused.status_code} (wanted {status}): {refused.text[:200]}"
    assert refused.headers["Content-Type"].startswith("application/json"), refused.text[:200]
    assert isinstance(refused.json().get("error"), str), refused.text[:200]
    valid = requests.post(running.url + "/v1/predict", json={"instances": ROW.tolist()}, timeout=10)
    assert valid.status_code == 200, valid.text[:200]


@pytest.mark.server
def test_unknown_routes_and_methods_are_json_errors(running: processes.ServerProcess) -> None:
    for method, path, status in (("GET", "/nope", 404), ("GET", "/v1/predict", 405)):
        refused = requests.request(method, running.url + path, timeout=10)
        assert refused.status_code == status and "error" in refused.json(), (path, refused.text[:200])


@pytest.mark.server
def test_a_body_that_never_arrives_is_a_408_and_the_connection_closes(model_file: Path) -> None:
    import socket

    with service(model_file, read_timeout_s=1) as process:
        host, port = process.url.split("//")[1].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as stalled:
            stalled.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n")
            answer = stalled.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408") and b'"error"' in answer, answer[:200]
            assert stalled.recv(4096) == b"", "the stalled connection was left open"
        valid = requests.post(process.url + "/v1/predict", json={"instances": ROW.tolist()}, timeout=10)
    assert valid.status_code == 200, valid.text[:200]


def test_errors_report_the_time_they_took() -> None:
    url = f"http://{processes.HOST}:{processes.free_port()}/v1/predict"  # nothing listens
    outcome = asyncio.run(loadgen.predict_all(url, [ROW], concurrency=1))[0]
    assert outcome.status is None and "ClientConnectorError" in (outcome.error or ""), outcome
    assert outcome.latency_ms > 0, f"a failure reported a latency of {outcome.latency_ms} ms"


@pytest.mark.server
def test_overload_is_refused_with_503_and_no_accepted_request_is_lost(model_file: Path) -> None:
    with service(model_file, queue_limit=4, max_batch=2, max_wait_ms=50) as process:
        outcomes = asyncio.run(loadgen.predict_all(process.url + "/v1/predict", [ROW] * 120, concurrency=120))
    statuses = [o.status for o in outcomes]
    assert set(statuses) <= {200, 503}, f"statuses other than 200/503: {set(statuses)}"
    assert statuses.count(503) > 0 and statuses.count(200) > 0, f"{statuses.count(503)} refused"
    assert all(o.predictions is not None for o in outcomes if o.status == 200), "a 200 without predictions"


@pytest.mark.server
def test_sigterm_answers_every_accepted_request(model_file: Path) -> None:
    process = service(model_file, max_batch=64, max_wait_ms=1500).start()

    def in_flight() -> float:
        text = requests.get(process.url + "/metrics", timeout=10).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        return families["inference_in_flight"].samples[0].value

    async def scenario() -> list[loadgen.Reply]:
        pending = asyncio.ensure_future(
            loadgen.predict_all(process.url + "/v1/predict", [ROW] * 40, concurrency=40)
        )
        deadline = time.perf_counter() + 10
        while await asyncio.to_thread(in_flight) < 40 and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(process.stop)  # SIGTERM to the group, then waits for the exit
        return await pending

    outcomes = asyncio.run(scenario())
    assert [o.status for o in outcomes] == [200] * 40, [(o.status, o.error) for o in outcomes if not o.ok]
    assert process.process.returncode == 0, f"exit code {process.process.returncode}: {process.log_tail()}"


def test_a_failing_model_is_a_json_500_and_counted() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from labkit.ops import monitor

    def broken(x: np.ndarray) -> np.ndarray:
        raise RuntimeError("weights missing")

    async def scenario() -> tuple[int, dict, monitor.ModelMonitor]:
        watch = monitor.ModelMonitor("mlp", "1")
        batcher = batching.MicroBatcher(broken, max_batch=4, max_wait_ms=1)
        app = async_service.build_app(batcher, watch, features=784, max_body_bytes=100_000)
        async with TestClient(TestServer(app, host=processes.HOST)) as client:
            answer = await client.post("/v1/predict", json={"instances": ROW.tolist()})
            return answer.status, await answer.json(), watch

    status, body, watch = asyncio.run(scenario())
    assert (status, body) == (500, {"error": "the model failed: weights missing"}), (status, body)
    assert watch.error_count == 1 and watch.count == 1, watch.stats()
