"""TorchServe (notebook 10): the handler's parsing and per-request statuses, the config, and a real server.

The server tests start TorchServe 0.12 (Java frontend, Python workers) on loopback with a small TorchScript
MLP, once for the module, and check the reliability the serving issue asks for: bad requests get a 4xx and
the next valid one is answered, unknown models 404, oversized bodies 413, a held port is refused clearly, a
server that dies is reported with its log, and nothing is left running after the stop.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
import torch

from labkit.models import torch_models
from labkit.serve import clients, processes, torchserve, torchserve_handler

ROW = [0.25] * 784


class RecordingContext:
    """Stands in for TorchServe's context in handler unit tests: records each request's status."""

    def __init__(self, size: int) -> None:
        self.statuses = [200] * size
        self.phrases = [""] * size

    def set_response_status(self, code: int, phrase: str = "", idx: int = 0) -> None:
        self.statuses[idx], self.phrases[idx] = code, phrase


@pytest.fixture(scope="module")
def scripted() -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script's; notebook 05 shows it
        return torch.jit.script(torch_models.build("mlp").eval())


@pytest.mark.parametrize(
    ("request_", "shape"),
    [
        ({"body": ROW}, (1, 784)),
        ({"data": [ROW, ROW]}, (2, 784)),
        ({"body": {"instances": [ROW] * 3}}, (3, 784)),
        ({"body": json.dumps([ROW]).encode()}, (1, 784)),
        ({"body": json.dumps({"instances": [ROW]})}, (1, 784)),
        ({"body": np.ones((2, 784), "<f4").tobytes()}, (2, 784)),
        ({"data": None, "body": ROW}, (1, 784)),
    ],
)
def test_parse_request_accepts_every_documented_form(request_: dict, shape: tuple[int, int]) -> None:
    x = torchserve_handler.parse_request(request_)
    assert x.shape == shape and x.dtype == np.float32, f"parsed {request_!r:.60} as {x.shape} {x.dtype}"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"body": [0.5] * 100}, "expected 784 values per example, got 100"),
        ({"body": [ROW, [0.5] * 3]}, "not all numbers in equal-length rows"),
        ({"body": ["a"] * 784}, "not all numbers"),
        ({"body": {"instances": []}}, "holds no examples"),
        ({"body": {"pixels": ROW}}, "needs an 'instances' key; got keys ['pixels']"),
        ({"body": "{oops"}, "malformed JSON"),
        ({"body": b"\x00" * 5}, "5 bytes is neither JSON nor whole float32 examples"),
        ({"body": [float("nan")] * 784}, "NaN or infinity"),
        ({"body": [ROW] * 1025}, "1 to 1024 examples; this one has 1025"),
        ({"data": None}, "no body"),
    ],
)
def test_parse_request_refuses_bad_payloads_with_a_reason(request_: dict, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        torchserve_handler.parse_request(request_)
    assert message in str(refused.value), f"message {str(refused.value)!r} lacks {message!r}"


def test_handler_answers_every_request_of_a_batch_and_refuses_only_the_bad_one(
    scripted: torch.jit.ScriptModule,
) -> None:
    batch = [{"body": ROW}, {"body": [0.5] * 7}, {"data": [ROW, [0.75] * 784]}, {"body": "{"}]
    handler = torchserve_handler.DigitsHandler()
    handler.model, handler.device, handler.context = scripted, torch.device("cpu"), RecordingContext(4)
    answers = handler.postprocess(handler.inference(handler.preprocess(batch)))
    assert handler.context.statuses == [200, 400, 200, 400], f"statuses {handler.context.statuses}"
    assert [len(a.get("predictions", [])) for a in answers] == [1, 0, 2, 0], f"answers {answers}"
    with torch.inference_mode():
        expected = scripted(torch.tensor([ROW, ROW, [0.75] * 784])).softmax(1).numpy()
    got = np.array(answers[0]["predictions"] + answers[2]["predictions"])
    assert np.abs(got - expected).max() < 1e-5, f"max difference {np.abs(got - expected).max():.2e}"
    assert "expected 784 values per example, got 7" in handler.context.phrases[1]


def test_a_batch_of_only_bad_requests_makes_no_model_call(scripted: torch.jit.ScriptModule) -> None:
    handler = torchserve_handler.DigitsHandler()
    handler.model, handler.device, handler.context = None, torch.device("cpu"), RecordingContext(2)
    answers = handler.postprocess(handler.inference(handler.preprocess([{"body": "x"}, {"data": None}])))
    assert handler.context.statuses == [400, 400] and all("error" in a for a in answers), answers


def test_config_binds_loopback_turns_tokens_off_and_sets_batching(tmp_path: Path) -> None:
    ports = {
        "inference": 1001,
        "management": 1002,
        "metrics": 1003,
        "grpc_inference": 1004,
        "grpc_management": 1005,
    }
    models = {"m": torchserve.ModelSettings("m.mar", workers=2, batch_size=8, max_batch_delay_ms=7)}
    text = torchserve.config_properties(ports, models, tmp_path, xmx_mb=128, max_request_bytes=5000)
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["inference_address"] == "http://127.0.0.1:1001", props
    assert props["management_address"] == "http://127.0.0.1:1002", props
    assert props["metrics_address"] == "http://127.0.0.1:1003", props
    assert (props["grpc_inference_address"], props["grpc_management_port"]) == ("127.0.0.1", "1005"), props
    assert props["disable_token_authorization"] == "true" and props["max_request_size"] == "5000", props
    assert "-Xmx128m" in props["vmargs"], props["vmargs"]
    entry = json.loads(props["models"])["m"]["1.0"]
    assert (entry["batchSize"], entry["maxBatchDelay"], entry["minWorkers"]) == (8, 7, 2), entry


def test_missing_java_and_missing_tools_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert "needs a Java 17 runtime" in (torchserve.java_problem() or ""), torchserve.java_problem()
    monkeypatch.setattr(torchserve.sys, "executable", "/nonexistent/python")
    with pytest.raises(RuntimeError, match="torchserve is not installed; `make venv` installs it"):
        torchserve.tool("torchserve")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, scripted: torch.jit.ScriptModule) -> Path:
    root = tmp_path_factory.mktemp("torchserve")
    scripted.save(str(root / "mlp.pt"))
    torchserve.archive("mlp", root / "mlp.pt", root / "store")
    return root / "store"


@pytest.fixture(scope="module")
def server(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[torchserve.TorchServe]:
    problem = torchserve.java_problem()
    if problem:
        pytest.skip(f"the TorchServe server tests need Java: {problem}")
    models = {
        "mlp": torchserve.ModelSettings("mlp.mar"),
        "mlp_batched": torchserve.ModelSettings("mlp.mar", batch_size=4, max_batch_delay_ms=100),
    }
    workdir = tmp_path_factory.mktemp("run")
    with torchserve.TorchServe(store, models, workdir, max_request_bytes=100_000) as running:
        yield running
    left = [
        p.pid for p in psutil.process_iter(["cmdline"]) if str(workdir) in " ".join(p.info["cmdline"] or [])
    ]
    assert not left, f"processes left after the stop: {left}"


def post(server: torchserve.TorchServe, model: str, body: bytes | str, kind: str) -> requests.Response:
    url = f"{server.urls['inference']}/predictions/{model}"
    return requests.post(url, data=body, headers={"Content-Type": kind}, timeout=30)


@pytest.mark.server
def test_server_answers_like_the_model(
    server: torchserve.TorchServe, scripted: torch.jit.ScriptModule
) -> None:
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    client = clients.TorchServeClient(server.urls["inference"], "mlp")
    with torch.inference_mode():
        expected = scripted(torch.from_numpy(x)).softmax(1).numpy()
    for raw in (False, True):
        got = client.predict(x, raw=raw)
        assert np.abs(got - expected).max() < 1e-5, (
            f"raw={raw}: max difference {np.abs(got - expected).max()}"
        )
    assert requests.get(server.urls["inference"] + "/ping", timeout=10).json() == {"status": "Healthy"}


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        ("{instances: oops", "application/json", 400),
        (json.dumps([0.5] * 100), "application/json", 400),
        (json.dumps(["x"] * 784), "application/json", 400),
        (json.dumps({"instances": []}), "application/json", 400),
        (b"\x00" * 7, "application/octet-stream", 400),
        (np.zeros((40, 784), "<f4").tobytes(), "application/octet-stream", 413),
    ],
    ids=["malformed-json", "wrong-shape", "wrong-dtype", "empty-instances", "partial-float32", "oversized"],
)
@pytest.mark.server
def test_bad_requests_get_a_4xx_and_the_server_keeps_answering(
    server: torchserve.TorchServe, body: bytes | str, kind: str, status: int
) -> None:
    refused = post(server, "mlp", body, kind)
    assert refused.status_code == status, (
        f"status {refused.status_code}, wanted {status}: {refused.text[:200]}"
    )
    valid = post(server, "mlp", json.dumps(ROW), "application/json")
    assert valid.status_code == 200 and len(valid.json()["predictions"]) == 1, valid.text[:200]


@pytest.mark.server
def test_unknown_model_and_version_are_404(server: torchserve.TorchServe) -> None:
    for path in ("/predictions/nope", "/predictions/mlp/9.9"):
        answer = requests.post(server.urls["inference"] + path, json=ROW, timeout=10)
        assert answer.status_code == 404, f"{path}: {answer.status_code} {answer.text[:200]}"


@pytest.mark.server
def test_batched_model_refuses_only_the_bad_request_of_a_batch(server: torchserve.TorchServe) -> None:
    bodies = [json.dumps(ROW), json.dumps([0.5] * 3), json.dumps([ROW, ROW]), json.dumps(ROW)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda b: post(server, "mlp_batched", b, "application/json"), bodies))
    assert [a.status_code for a in answers] == [200, 400, 200, 200], [a.text[:100] for a in answers]
    assert len(answers[2].json()["predictions"]) == 2, answers[2].text[:200]


@pytest.mark.server
def test_scaling_workers_and_metrics(server: torchserve.TorchServe) -> None:
    assert "Workers scaled to 2" in server.scale("mlp", 2)
    assert server.ready_workers("mlp") == 2, server.describe("mlp")["workers"]
    server.scale("mlp", 1)
    metrics = server.metrics()
    assert 'ts_inference_requests_total{model_name="mlp"' in metrics, metrics[:500]
    assert "Requests4XX" in metrics, "the metrics API does not count refused requests"


@pytest.mark.server
def test_a_port_in_use_is_refused_clearly(store: Path, tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind((processes.HOST, 0))
        held.listen()
        port = held.getsockname()[1]
        models = {"mlp": torchserve.ModelSettings("mlp.mar")}
        ts = torchserve.TorchServe(store, models, tmp_path, ports={"inference": port})
        with pytest.raises(RuntimeError, match=f"port {port} on 127.0.0.1 is already in use"):
            ts.start()


@pytest.mark.server
def test_a_server_that_dies_is_reported_with_its_log_and_cleaned_up(store: Path, tmp_path: Path) -> None:
    ts = torchserve.TorchServe(store, {"mlp": torchserve.ModelSettings("mlp.mar")}, tmp_path).start()
    java = [p for p in psutil.Process(ts.process.process.pid).children(recursive=True) if "java" in p.name()]
    assert java, "no java frontend under the torchserve launcher"
    os.kill(java[0].pid, signal.SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline and ts.process.process.poll() is None:
        time.sleep(0.1)
    with pytest.raises(RuntimeError, match=r"torchserve is not running \(exit code .*\); its log ends:\n.+"):
        ts.process.check()
    ts.stop()
    left = [
        p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert not left, f"processes left after the stop: {left}"


@pytest.mark.server
def test_versions_registered_promoted_and_removed_through_the_model_api(
    scripted: torch.jit.ScriptModule, tmp_path: Path
) -> None:
    scripted.save(str(tmp_path / "mlp.pt"))
    store = tmp_path / "store"
    for version in ("1.0", "2.0"):
        torchserve.archive("mlp", tmp_path / "mlp.pt", store, version=version)
        (store / "mlp.mar").rename(store / f"mlp_v{version[0]}.mar")
    models = {"mlp": torchserve.ModelSettings("mlp_v1.mar")}
    with torchserve.TorchServe(store, models, tmp_path / "closed") as closed:
        with pytest.raises(RuntimeError, match="POST /models failed: HTTP 405"):
            closed.register("mlp_v2.mar")
    with torchserve.TorchServe(store, models, tmp_path / "open", model_api=True) as server:
        assert "Version: 2.0 registered" in server.register("mlp_v2.mar")
        assert post(server, "mlp/2.0", json.dumps(ROW), "application/json").status_code == 200
        server.set_default("mlp", "2.0")
        assert server.default_version("mlp") == "2.0", server.describe("mlp")
        server.set_default("mlp", "1.0")
        server.unregister("mlp", "2.0")
        gone = post(server, "mlp/2.0", json.dumps(ROW), "application/json")
        assert gone.status_code == 404 and server.default_version("mlp") == "1.0", gone.text[:200]
