"""TF Serving's gRPC API, driven by the official `tensorflow-serving-api` stubs: labkit's server always, the
real `tensorflow_model_server` when on PATH. The model is the REST tests' tiny SavedModel."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_serving.apis")
grpc = pytest.importorskip("grpc")

from tensorflow.core.framework import tensor_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from test_tfs_rest_server import NOT_ON_PATH, REAL, WEIGHTS, export_tiny  # noqa: E402

from labkit.core import tf_env  # noqa: E402
from labkit.serve import loadgen, processes, saved_models, tfs_rest_server  # noqa: E402

pytestmark = pytest.mark.server
tf = tf_env.import_tensorflow()
MAX_BYTES = 20_000


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("grpc-models") / "tiny"
    export_tiny(base / "1", 1.0)
    return base


def start(base: Path, kind: str = "labkit", batching_file: Path | None = None) -> processes.ServerProcess:
    """A server with REST and gRPC ports; `process.grpc` is a channel to its gRPC port."""
    rest, grpc_port = processes.free_port(), processes.free_port()
    command, which = tfs_rest_server.server_command(
        "tiny",
        base,
        rest,
        batching_file=batching_file,
        poll_s=0.2,
        prefer_real=kind != "labkit",
        grpc_port=grpc_port,
    )
    if kind == "labkit":
        command += [f"--max_body_bytes={MAX_BYTES}", "--version_labels=stable=1"]
    process = processes.ServerProcess(
        command, f"http://{processes.HOST}:{rest}/v1/models/tiny", name=which, timeout_s=120
    )
    process.kind, process.target = kind, f"{processes.HOST}:{grpc_port}"
    return process


@pytest.fixture(
    scope="module",
    params=["labkit", pytest.param("real", marks=pytest.mark.skipif(REAL is None, reason=NOT_ON_PATH))],
)
def server(request: pytest.FixtureRequest, base_path: Path):
    with start(base_path, request.param) as process, grpc.insecure_channel(process.target) as channel:
        process.predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        process.models = model_service_pb2_grpc.ModelServiceStub(channel)
        process.channel = channel
        yield process


def predict_request(
    inputs: dict[str, object], signature: str = "", **spec: object
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = str(spec.pop("name", "tiny"))
    request.model_spec.signature_name = signature
    if "version" in spec:
        request.model_spec.version.value = int(spec.pop("version"))
    if "label" in spec:
        request.model_spec.version_label = str(spec.pop("label"))
    for name, value in inputs.items():
        proto = value if isinstance(value, tensor_pb2.TensorProto) else tf.make_tensor_proto(value)
        request.inputs[name].CopyFrom(proto)
    return request


def predict_ok(server) -> None:
    """The server still answers a valid request correctly."""
    answer = server.predictions.Predict(predict_request({"x": np.eye(4, dtype=np.float32)[:1]}), timeout=30)
    assert np.allclose(tf.make_ndarray(answer.outputs["y"]), WEIGHTS[:1]), answer


def refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(request, timeout=30)
    return error.value


def test_predict_with_tensor_protos_in_and_out(server) -> None:
    x = np.eye(4, dtype=np.float32)[:3]
    answer = server.predictions.Predict(predict_request({"x": x}), timeout=30)
    assert np.allclose(tf.make_ndarray(answer.outputs["y"]), x @ WEIGHTS), answer.outputs
    spec = answer.model_spec
    assert (spec.name, spec.version.value, spec.signature_name) == ("tiny", 1, "serving_default"), spec


def test_signatures_versions_labels_and_output_filter(server) -> None:
    a, b = np.array([[1, 2]], np.float32), np.array([[3, 5]], np.float32)
    request = predict_request({"a": a, "b": b}, "pair", version=1)
    request.output_filter.append("diff")
    answer = server.predictions.Predict(request, timeout=30)
    assert list(answer.outputs) == ["diff"], list(answer.outputs)
    assert tf.make_ndarray(answer.outputs["diff"]).tolist() == [[-2.0, -3.0]]
    blobs = np.array([b"\x00\xffimage", b"png"], dtype=object)
    answer = server.predictions.Predict(predict_request({"image_bytes": blobs}, "binary"), timeout=30)
    assert tf.make_ndarray(answer.outputs["doubled_bytes"]).tolist() == [b * 2 for b in blobs]
    if server.kind == "labkit":  # labels come from a model config file on the real server
        labelled = server.predictions.Predict(
            predict_request({"x": np.eye(4, dtype=np.float32)[:1]}, label="stable"), timeout=30
        )
        assert labelled.model_spec.version.value == 1, labelled.model_spec


def test_model_metadata_and_status(server) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "tiny"
    request.metadata_field.append("signature_def")
    answer = server.predictions.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    answer.metadata["signature_def"].Unpack(signatures)
    x = signatures.signature_def["serving_default"].inputs["x"]
    assert x.dtype == tf.float32.as_datatype_enum and [d.size for d in x.tensor_shape.dim] == [-1, 4], x
    assert {"pair", "binary", "scaled"} <= set(signatures.signature_def), list(signatures.signature_def)
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "tiny"
    status = server.models.GetModelStatus(status_request, timeout=30).model_version_status
    assert [(s.version, s.state) for s in status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ], status


def test_unknown_model_and_version_are_not_found(server) -> None:
    for request in (
        predict_request({"x": np.zeros((1, 4), np.float32)}, name="other"),
        predict_request({"x": np.zeros((1, 4), np.float32)}, version=9),
    ):
        error = refused(server.predictions.Predict, request)
        assert error.code() == grpc.StatusCode.NOT_FOUND, (error.code(), error.details())
    predict_ok(server)


@pytest.mark.parametrize(
    "case",
    ["unknown-input", "float64", "wrong-shape", "content-too-short", "unknown-dtype"],
)
def test_bad_inputs_are_invalid_argument_and_the_server_keeps_serving(server, case: str) -> None:
    x = np.zeros((1, 4), np.float32)
    inputs: dict[str, object] = {
        "unknown-input": {"x": x, "z": x},
        "float64": {"x": x.astype(np.float64)},
        "wrong-shape": {"x": np.zeros((1, 3), np.float32)},
        "content-too-short": {"x": tf.make_tensor_proto(x)},
        "unknown-dtype": {"x": tf.make_tensor_proto(x)},
    }[case]
    request = predict_request(inputs)
    if case == "content-too-short":
        request.inputs["x"].tensor_content = request.inputs["x"].tensor_content[:12]
    if case == "unknown-dtype":
        request.inputs["x"].dtype = 999
    error = refused(server.predictions.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    if server.kind == "labkit":
        assert "'x'" in error.details() or "'z'" in error.details(), error.details()
    predict_ok(server)


def test_truncated_protobuf_and_oversized_messages_are_refused(server) -> None:
    raw = server.channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    whole = predict_request({"x": np.zeros((1, 4), np.float32)}).SerializeToString()
    error = refused(raw, whole[: len(whole) // 2])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    if server.kind == "labkit":
        assert "not a valid PredictRequest message" in error.details(), error.details()
        big = predict_request({"x": np.zeros((MAX_BYTES // 16 + 10, 4), np.float32)})
        error = refused(server.predictions.Predict, big)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (error.code(), error.details())
    predict_ok(server)


def test_batching_and_a_hot_swap_over_grpc(base_path: Path, tmp_path: Path) -> None:
    """24 concurrent calls through the batcher are each answered right; version 2 then replaces 1."""
    base = tmp_path / "tiny"
    shutil.copytree(base_path, base)
    params = tmp_path / "batching.txt"
    params.write_text(saved_models.batching_parameters_text(16, 20_000))
    results: dict[int, bool] = {}
    with start(base, batching_file=params) as process, grpc.insecure_channel(process.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def one(i: int) -> None:
            x = np.zeros((1, 4), np.float32)
            x[0, i % 4] = i
            answer = stub.Predict(predict_request({"x": x}), timeout=30)
            results[i] = np.allclose(tf.make_ndarray(answer.outputs["y"]), x @ WEIGHTS)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        export_tiny(tmp_path / "staging-2", 10.0)
        (tmp_path / "staging-2").rename(base / "2")
        deadline, version = time.time() + 60, 1
        while time.time() < deadline and version != 2:
            version = stub.Predict(
                predict_request({"x": np.eye(4, dtype=np.float32)[:1]}), timeout=30
            ).model_spec.version.value
            time.sleep(0.2)
    assert len(results) == 24 and all(results.values()), results
    assert version == 2, "version 2 was not served within 60 s"


def test_the_grpc_load_generator_times_every_call_and_reports_failures(server) -> None:
    import asyncio

    method = "/tensorflow.serving.PredictionService/Predict"
    good = predict_request({"x": np.eye(4, dtype=np.float32)[:1]}).SerializeToString()
    bad = predict_request({"x": np.eye(4, dtype=np.float32)[:1]}, name="other").SerializeToString()
    run = asyncio.run(loadgen.run_grpc_load(server.target, method, [good] * 30 + [bad] * 2, concurrency=8))
    assert run.completed == 30 and len(run.errors) == 2, (run.completed, run.errors)
    assert all("NOT_FOUND" in e for e in run.errors) and (run.latencies_ms > 0).all(), run.errors
    answer = predict_pb2.PredictResponse.FromString(run.replies[0].answer)
    assert np.allclose(tf.make_ndarray(answer.outputs["y"]), WEIGHTS[:1]), answer
