"""Seeds fixed in the first setup cell, for every framework the kernel has loaded; TensorFlow determinism
on request (notebook 13), since it constrains every op of the process."""

from __future__ import annotations

import random
import sys

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, and torch/TensorFlow when they are already imported."""
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].keras.utils.set_random_seed(seed)


def tensorflow_determinism(seed: int, enabled: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic (or not, `enabled=False`).

    With `tf.config.experimental.enable_op_determinism` every op runs a deterministic kernel (or raises
    when it has none), and `tf.data` keeps element order in parallel stages; with seeded data (stateless
    random ops in `tf.data`) two trainings on the same machine and library versions give identical
    weights. It is a process-wide switch, so only the notebooks that need it turn it on.
    """
    from labkit.core.tf_env import import_tensorflow

    import_tensorflow().keras.utils.set_random_seed(seed)
    set_op_determinism(enabled)


def set_op_determinism(enabled: bool) -> bool:
    """Turn TensorFlow's op determinism on or off; returns the previous state. (The public API,
    `tf.config.experimental.enable_op_determinism`, only turns it on.)"""
    from labkit.core.tf_env import import_tensorflow

    import_tensorflow()
    from tensorflow.python.framework import config as tf_config

    previous = bool(tf_config.is_op_determinism_enabled())
    if enabled:
        tf_config.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()
    return previous
