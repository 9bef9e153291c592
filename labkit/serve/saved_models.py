"""SavedModel versions as TensorFlow Serving lays them out: numbered directories under an absolute base path.

`export` writes a version atomically (staging directory, then rename), `discover` lists the complete ones,
`Version` loads one with its signatures, and the batching parameters file is read and written in TF
Serving's text format.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Version:
    """One loaded SavedModel version: its signatures' input and output specs, their SignatureDef protos (as
    gRPC's GetModelMetadata returns them) and the callables."""

    number: int
    path: Path
    loaded: Any
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature_defs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, number: int, path: Path) -> Version:
        from labkit.core import tf_env

        tf = tf_env.import_tensorflow()
        loaded = tf.saved_model.load(str(path))
        version = cls(number, path, loaded)
        for name, fn in loaded.signatures.items():
            version.inputs[name] = dict(fn.structured_input_signature[1])
            version.outputs[name] = dict(fn.structured_outputs)
        if not version.inputs:
            raise ValueError(f"{path} has no serving signatures; export it with a `signatures=` argument.")
        from tensorflow.core.protobuf import saved_model_pb2

        graph = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes()).meta_graphs[0]
        version.signature_defs = dict(graph.signature_def)
        return version

    def run(self, signature: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        fn = self.loaded.signatures[signature]
        return {key: value.numpy() for key, value in fn(**arrays).items()}


def export(model: Any, base: Path, version: int, *, input_name: str = "pixels") -> Path:
    """Save a Keras model as version `version` under `base`: `input_name` -> `probabilities`.

    The SavedModel is written to a staging directory and renamed into place, so a polling server never
    sees half a version. The signature takes the model's own input shape with a free batch dimension.
    """
    from labkit.core.tf_env import import_tensorflow, quiet

    tf = import_tensorflow()
    target = Path(base) / str(version)
    if target.exists():
        raise FileExistsError(f"{target} exists; versions are immutable, so export as version {version + 1}.")
    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name=input_name)

    @tf.function(input_signature=[spec])
    def serve(x):
        return {"probabilities": model(x, training=False)}

    staging = Path(base) / f".staging-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    with quiet():
        tf.saved_model.save(model, str(staging), signatures={"serving_default": serve})
    staging.rename(target)
    return target


def discover(base: Path) -> list[int]:
    """Numeric version directories under the model base path that hold a saved_model.pb, ascending."""
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").exists())


def read_batching_parameters(path: Path) -> tuple[int, float]:
    """max_batch_size and batch_timeout_micros (as seconds) from TF Serving's batching parameters file."""
    text = path.read_text()
    size = re.search(r"max_batch_size\s*\{\s*value:\s*(\d+)\s*\}", text)
    micros = re.search(r"batch_timeout_micros\s*\{\s*value:\s*(\d+)\s*\}", text)
    if size is None or micros is None:
        raise ValueError(
            f"{path} needs 'max_batch_size {{ value: N }}' and 'batch_timeout_micros {{ value: N }}'."
        )
    return int(size.group(1)), int(micros.group(1)) / 1e6


def batching_parameters_text(max_batch_size: int, batch_timeout_micros: int) -> str:
    """A batching parameters file in TensorFlow Serving's text format."""
    return (
        f"max_batch_size {{ value: {max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
    )
