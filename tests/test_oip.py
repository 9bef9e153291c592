"""The async service's Open Inference Protocol (KServe v2), driven by a client we did not write:
`tritonclient.http`, with JSON and binary tensors; malformed requests over raw HTTP get the protocol's
JSON errors and the service keeps answering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import torch

httpclient = pytest.importorskip("tritonclient.http")
from test_async_service import model_file, service  # noqa: E402, F401
from tritonclient.utils import InferenceServerException  # noqa: E402

from labkit.serve import oip, processes  # noqa: E402

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def running(model_file: Path) -> Iterator[processes.ServerProcess]:  # noqa: F811
    with service(model_file, max_body_bytes=200_000) as process:
        process.address = process.url.split("//")[1]
        yield process


@pytest.fixture(scope="module")
def client(running: processes.ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    triton = httpclient.InferenceServerClient(running.address, network_timeout=30)
    yield triton
    triton.close()


def expected(model_file: Path, x: np.ndarray) -> np.ndarray:  # noqa: F811
    model = torch.jit.load(str(model_file))
    with torch.inference_mode():
        return model(torch.from_numpy(x)).softmax(1).numpy()


def infer(client, x: np.ndarray, *, binary: bool, model: str = "mlp", datatype: str = "FP32") -> np.ndarray:
    tensor = httpclient.InferInput("input", list(x.shape), datatype)
    tensor.set_data_from_numpy(x, binary_data=binary)
    wanted = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
    return client.infer(model, [tensor], outputs=[wanted], request_id="r1").as_numpy("probabilities")


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_health_metadata_and_infer_with_json_and_binary_tensors(client, model_file: Path) -> None:  # noqa: F811
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mlp")
    metadata = client.get_model_metadata("mlp")
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 784]}], metadata
    assert metadata["outputs"][0]["name"] == "probabilities", metadata
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    want = expected(model_file, x)
    for binary in (False, True):
        got = infer(client, x, binary=binary)
        worst = float(np.abs(got - want).max())
        assert got.shape == (3, 10) and worst < 1e-5, f"binary={binary}: worst difference {worst:.2e}"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"model": "resnet"}, "not served"), ({"datatype": "FP64"}, "takes FP32")],
    ids=["unknown-model", "wrong-datatype"],
)
def test_the_client_reports_the_services_errors(client, kwargs: dict, words: str) -> None:
    x = np.zeros((1, 784), np.float64 if kwargs.get("datatype") == "FP64" else np.float32)
    with pytest.raises(InferenceServerException, match=words):
        infer(client, x, binary=True, **kwargs)
    assert infer(client, np.zeros((1, 784), np.float32), binary=True).shape == (1, 10)


def _binary_body(header: dict, data: bytes) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(header).encode()
    return text + data, {oip.HEADER: str(len(text)), "Content-Type": "application/octet-stream"}


def _tensor_header(size: int, datatype: str = "FP32", shape: list | None = None) -> dict:
    return {
        "inputs": [
            {
                "name": "input",
                "shape": shape or [1, 784],
                "datatype": datatype,
                "parameters": {"binary_data_size": size},
            }
        ]
    }


ROW_BYTES = np.zeros((1, 784), np.float32).tobytes()


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("header-length-lies", 400, "Inference-Header-Content-Length"),
        ("size-mismatch", 400, "binary_data_size"),
        ("unknown-datatype", 400, "does not define"),
        ("truncated-json", 400, "malformed JSON"),
        ("json-data-count", 400, "needs 784"),
        ("oversized", 413, "larger than"),
    ],
)
def test_malformed_infer_requests_get_json_errors(running, case: str, status: int, words: str) -> None:
    url = running.url + "/v2/models/mlp/infer"
    headers: dict[str, str] = {}
    if case == "header-length-lies":
        body, headers = _binary_body(_tensor_header(len(ROW_BYTES)), ROW_BYTES)
        headers[oip.HEADER] = str(len(body) + 100)
    elif case == "size-mismatch":
        body, headers = _binary_body(_tensor_header(len(ROW_BYTES)), ROW_BYTES[:-4])
    elif case == "unknown-datatype":
        body, headers = _binary_body(_tensor_header(784, "FP8"), b"\0" * 784)
    elif case == "truncated-json":
        body = json.dumps(_tensor_header(0)).encode()[:40]
    elif case == "json-data-count":
        tensor = {"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [0.5] * 10}
        body = json.dumps({"inputs": [tensor]}).encode()
    else:
        body, headers = _binary_body(_tensor_header(4 * 784 * 80, shape=[80, 784]), b"\0" * (4 * 784 * 80))
    refused = requests.post(url, data=body, headers=headers, timeout=30)
    assert refused.status_code == status, (refused.status_code, refused.text[:300])
    assert words in refused.json()["error"], refused.json()
    valid_body, valid_headers = oip.binary_request(np.zeros((1, 784), np.float32), binary_output=False)
    valid = requests.post(url, data=valid_body, headers=valid_headers, timeout=30)
    assert valid.status_code == 200 and len(valid.json()["outputs"][0]["data"]) == 10, valid.text[:300]
