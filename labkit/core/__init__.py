"""The bottom layer: paths, atomic files, the machine's facts, seeds and TensorFlow's environment."""

from labkit._lazy import submodules

__getattr__, __dir__ = submodules(__name__, __path__)
