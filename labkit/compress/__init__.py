"""Compression: Keras pruning with tfmot, PyTorch pruning and int8, LiteRT conversion, model sizes."""

from labkit._lazy import submodules

__getattr__, __dir__ = submodules(__name__, __path__)
