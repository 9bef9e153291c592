"""TensorFlow Serving's gRPC API for `tfs_rest_server`, with the official `tensorflow-serving-api` messages.

`PredictionService.Predict` and `GetModelMetadata` and `ModelService.GetModelStatus` run on grpc.aio beside
the REST API, on the same loaded versions, labels, batching and hot swap. Errors carry TF Serving's status
codes: NOT_FOUND (unknown model or version), INVALID_ARGUMENT (a wrong input name, dtype or shape, or bytes
that are not the request message), UNAVAILABLE (the batching queue is full), RESOURCE_EXHAUSTED (a message
over the size limit, refused by gRPC itself).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc import aio

from labkit.serve.json_http import RequestError
from labkit.serve.tfs_protocol import check_shape, signature_inputs

if TYPE_CHECKING:
    from labkit.serve.tfs_rest_server import ModelServer

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


@functools.cache
def _apis() -> Any:
    """tensorflow_serving.apis' message modules (imported late, once: they import TensorFlow's protos)."""
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        predict_pb2,
    )

    return predict_pb2, get_model_metadata_pb2, get_model_status_pb2


def request_arrays(request: Any, specs: dict[str, Any], signature: str) -> dict[str, Any]:
    """A PredictRequest's inputs as arrays of the signature's dtypes and shapes, or RequestError(400)
    naming the input: what the server decodes before the model runs."""
    unknown, missing = sorted(set(request.inputs) - set(specs)), sorted(set(specs) - set(request.inputs))
    if unknown or missing:
        raise RequestError(
            400,
            f"signature {signature!r} takes the inputs {sorted(specs)}; "
            f"got unknown {unknown} and missing {missing}.",
        )
    return {name: _array(name, request.inputs[name], specs[name]) for name in specs}


@functools.cache
def _tensorflow() -> Any:
    """TensorFlow, imported once: `tf_env.import_tensorflow` redirects stderr on every call."""
    from labkit.core import tf_env

    return tf_env.import_tensorflow()


def _array(name: str, proto: Any, spec: Any) -> Any:
    """One TensorProto as an array of the signature's dtype and shape, or RequestError(400)."""
    tf = _tensorflow()
    if proto.dtype != spec.dtype.as_datatype_enum:
        try:
            got = tf.dtypes.as_dtype(proto.dtype).name
        except TypeError:
            got = f"enum value {proto.dtype} (no TensorFlow dtype)"
        raise RequestError(400, f"input {name!r} has dtype {got}; the signature expects {spec.dtype.name}.")
    try:
        array = tf.make_ndarray(proto)
    except (ValueError, TypeError) as error:
        shape = [d.size for d in proto.tensor_shape.dim]
        raise RequestError(
            400,
            f"input {name!r}: its {len(proto.tensor_content)} bytes of content do not fill shape {shape} "
            f"of {spec.dtype.name} ({error}).",
        ) from None
    check_shape(name, array, spec, where="the request")
    return array


class Services:
    """The gRPC methods of one ModelServer; each takes the raw request bytes and parses them itself, so
    bytes that are not the message are an INVALID_ARGUMENT that says so (not gRPC's bare INTERNAL)."""

    def __init__(self, server: ModelServer) -> None:
        self.server, self.tf = server, _tensorflow()

    async def predict(self, request: Any) -> Message:
        predict_pb2, _, _ = _apis()
        version = self._version(request.model_spec)
        signature = request.model_spec.signature_name or "serving_default"
        arrays = request_arrays(request, signature_inputs(version, signature), signature)
        outputs = await self.server.infer(version, signature, arrays)
        wanted = list(request.output_filter) or list(outputs)
        absent = sorted(set(wanted) - set(outputs))
        if absent:
            raise RequestError(400, f"output_filter names {absent}; the outputs are {sorted(outputs)}.")
        response = predict_pb2.PredictResponse()
        response.model_spec.name, response.model_spec.signature_name = self.server.name, signature
        response.model_spec.version.value = version.number
        for name in wanted:
            response.outputs[name].CopyFrom(self.tf.make_tensor_proto(outputs[name]))
        return response

    async def metadata(self, request: Any) -> Message:
        _, metadata_pb2, _ = _apis()
        fields = set(request.metadata_field)
        if fields != {"signature_def"}:
            raise RequestError(400, f"metadata_field must be ['signature_def']; got {sorted(fields)}.")
        version = self._version(request.model_spec)
        response = metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name, response.model_spec.version.value = self.server.name, version.number
        signatures = metadata_pb2.SignatureDefMap()
        for key, signature_def in version.signature_defs.items():
            signatures.signature_def[key].CopyFrom(signature_def)
        response.metadata["signature_def"].Pack(signatures)
        return response

    async def status(self, request: Any) -> Message:
        _, _, status_pb2 = _apis()
        spec = request.model_spec
        if spec.HasField("version") or spec.version_label:
            versions = [self._version(spec)]
        else:
            self.server.resolve(spec.name)
            versions = [self.server.versions[n] for n in sorted(self.server.versions)]
        response = status_pb2.GetModelStatusResponse()
        for version in versions:
            entry = response.model_version_status.add()
            entry.version, entry.state = version.number, status_pb2.ModelVersionStatus.AVAILABLE
        return response

    def _version(self, spec: Any) -> Any:
        number = str(spec.version.value) if spec.HasField("version") else None
        return self.server.resolve(spec.name, number, spec.version_label or None)


def _unary(method: Callable[[Any], Awaitable[Message]], request_type: Any) -> grpc.RpcMethodHandler:
    """A handler that parses the request bytes itself and maps RequestError to TF Serving's codes."""

    async def handle(raw: bytes, context: aio.ServicerContext) -> Message:
        try:
            request = request_type.FromString(raw)
        except DecodeError as error:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request is not a valid {request_type.DESCRIPTOR.name} message (truncated?): {error}",
            )
        try:
            return await method(request)
        except RequestError as error:
            await context.abort(_CODES.get(error.status, grpc.StatusCode.INTERNAL), str(error))
        raise AssertionError("context.abort raises")

    return grpc.unary_unary_rpc_method_handler(handle, response_serializer=lambda m: m.SerializeToString())


def handlers(server: ModelServer) -> list[grpc.GenericRpcHandler]:
    """The PredictionService and ModelService handlers for `grpc.aio.server().add_generic_rpc_handlers`."""
    predict_pb2, metadata_pb2, status_pb2 = _apis()
    services = Services(server)
    prediction = {
        "Predict": _unary(services.predict, predict_pb2.PredictRequest),
        "GetModelMetadata": _unary(services.metadata, metadata_pb2.GetModelMetadataRequest),
    }
    model = {"GetModelStatus": _unary(services.status, status_pb2.GetModelStatusRequest)}
    return [
        grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", prediction),
        grpc.method_handlers_generic_handler("tensorflow.serving.ModelService", model),
    ]


async def start(server: ModelServer, port: int, *, max_message_bytes: int) -> aio.Server:
    """A started grpc.aio server on 127.0.0.1:`port`; messages over `max_message_bytes` get
    RESOURCE_EXHAUSTED from gRPC."""
    from labkit.serve import processes

    grpc_server = aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
    )
    grpc_server.add_generic_rpc_handlers(handlers(server))
    grpc_server.add_insecure_port(f"{processes.HOST}:{port}")
    await grpc_server.start()
    return grpc_server
