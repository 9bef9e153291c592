"""Operations: monitoring, drift detection, the model registry and canary rollouts."""

from labkit._lazy import submodules

__getattr__, __dir__ = submodules(__name__, __path__)
