"""The series' shared models (Keras and PyTorch twins, MobileNetV2), their saved artifacts, MAC counts."""

from labkit._lazy import submodules

__getattr__, __dir__ = submodules(__name__, __path__)
