"""Serving: supervised server processes, a TF Serving REST protocol server, TorchServe, the async
micro-batching service, batching, HTTP clients and the load generator."""

from labkit._lazy import submodules

__getattr__, __dir__ = submodules(__name__, __path__)
