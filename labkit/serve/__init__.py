"""Serving: supervised server processes, a TF Serving REST protocol server, TorchServe, the async
micro-batching service, batching, HTTP clients and the load generator."""

from labkit._lazy import submodules

__getattr__, __dir__ = submodules(
    __name__,
    (
        "async_service",
        "cache",
        "clients",
        "loadgen",
        "processes",
        "tfs_rest_server",
        "torchserve",
        "torchserve_handler",
    ),
)
