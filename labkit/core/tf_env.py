"""The one place that sets TensorFlow's environment variables before TensorFlow is imported.

tensorflow-model-optimization needs Keras 2 (`tf-keras`), selected by TF_USE_LEGACY_KERAS=1; the C++
log level keeps start-up noise out of committed notebook outputs (WORKBOOK.md section 9).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

TF_ENV = {
    "TF_USE_LEGACY_KERAS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


def configure() -> None:
    """Set the TensorFlow variables unless the user already chose a value."""
    for key, value in TF_ENV.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def _silenced_stderr_fd() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null: absl writes there from C++, below Python's sys.stderr."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence C++ log lines on fd 2 and Python warnings for one noisy call (a converter, an interpreter).

    Errors still raise as exceptions; only chatter such as XNNPACK's start-up line is dropped, so that
    committed notebook outputs stay clean.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _silenced_stderr_fd():
            yield


def import_tensorflow() -> ModuleType:
    """Import TensorFlow with the workbook's settings and without its C++ start-up lines."""
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise RuntimeError(
            "TensorFlow was imported before labkit set TF_USE_LEGACY_KERAS=1; restart the kernel "
            "and import labkit (or call labkit.core.tf_env.import_tensorflow()) before tensorflow."
        )
    configure()
    with _silenced_stderr_fd():
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    return tf
