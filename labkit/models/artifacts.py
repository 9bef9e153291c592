"""Baseline models saved by 01_baseline_models for later notebooks, rebuilt when missing or damaged.

Each artifact has a JSON sidecar with its SHA-256, accuracy and training settings. Files are written
to a temporary name and moved into place, so a crash never leaves half a model behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit import data
from labkit.core import files, paths

FILES = {"keras": "{arch}.keras", "torch": "{arch}.pt"}


def path(framework: str, arch: str) -> Path:
    """Where the baseline `arch` (mlp/cnn) of `framework` (keras/torch) is saved."""
    if framework not in FILES or arch not in ("mlp", "cnn"):
        raise ValueError(
            f"no baseline artifact for framework={framework!r}, arch={arch!r}; "
            "allowed: framework 'keras' or 'torch', arch 'mlp' or 'cnn'."
        )
    return paths.artifacts_dir() / "baseline" / framework / FILES[framework].format(arch=arch)


def _sidecar(target: Path) -> Path:
    return target.with_suffix(target.suffix + ".json")


def _record_sidecar(target: Path, details: dict[str, Any]) -> Path:
    """Write the sidecar with the saved file's checksum and size."""
    files.write_json(
        _sidecar(target),
        {**details, "sha256": data.sha256_file(target), "bytes": target.stat().st_size},
    )
    return target


def write_bytes(relative: str, payload: bytes) -> Path:
    """Write a derived file (e.g. a .tflite model) under the artifacts directory, atomically."""
    return files.write_atomic(paths.artifacts_dir() / relative, payload)


def info(framework: str, arch: str) -> dict[str, Any]:
    """The sidecar of a saved artifact (accuracy, params, sha256, ...)."""
    return json.loads(_sidecar(path(framework, arch)).read_text(encoding="utf-8"))


def problem(framework: str, arch: str) -> str | None:
    """Why an artifact cannot be used as it is (missing, no sidecar, checksum), or None."""
    return _file_problem(path(framework, arch))


def _file_problem(target: Path) -> str | None:
    """Why a saved file with a checksum sidecar cannot be used as it is, or None."""
    if not target.exists():
        return f"{target.name} is missing"
    if not _sidecar(target).exists():
        return f"{target.name} has no checksum sidecar"
    recorded = json.loads(_sidecar(target).read_text(encoding="utf-8"))["sha256"]
    if data.sha256_file(target) != recorded:
        return f"{target.name} does not match its recorded SHA-256 (corrupted)"
    return None


def save_keras(model: Any, arch: str, details: dict[str, Any]) -> Path:
    """Save a Keras model in the native .keras format, atomically, with its sidecar."""
    target = path("keras", arch)
    with files.replacing(target) as tmp:
        model.save(tmp)
    return _record_sidecar(target, details)


def save_torch(model: Any, arch: str, details: dict[str, Any]) -> Path:
    """Save a PyTorch state dict (loadable with weights_only=True), atomically, with its sidecar."""
    from labkit.models import torch_models

    target = files.write_atomic(path("torch", arch), torch_models.state_dict_bytes(model))
    return _record_sidecar(target, details)


def _defaults() -> dict[str, Any]:
    """01_baseline_models' quick defaults: a rebuilt artifact matches the notebook's.

    Read from the harness's catalog when needed, so the models layer does not import the harness.
    """
    from labkit.workbook import catalog

    return catalog.defaults("01_baseline_models")


def rebuild(framework: str, arch: str, reason: str) -> Path:
    """Train and save a baseline as 01_baseline_models does, saying why and how."""
    settings = _defaults()
    epochs = settings[f"epochs_{arch}"]
    print(
        f"Artifact {reason}: rebuilding the {framework} {arch.upper()} as 01_baseline_models does "
        f"({epochs} epochs, seed {settings['seed']}); run notebook 01 to keep it."
    )
    digits = data.load_digits28(flat=arch == "mlp")
    if framework == "keras":
        from labkit.models import keras_models

        model = keras_models.build(arch, settings["seed"])
        keras_models.train(
            model,
            digits,
            epochs=epochs,
            batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"],
            seed=settings["seed"],
        )
        acc = keras_models.accuracy(model, digits.x_test, digits.y_test)
        return save_keras(
            model,
            arch,
            {
                "test_accuracy": acc,
                "epochs": epochs,
                "rebuilt": True,
                "params": int(model.count_params()),
            },
        )
    from labkit.models import torch_models

    model = torch_models.build(arch, settings["seed"])
    torch_models.train(
        model,
        digits,
        arch=arch,
        epochs=epochs,
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        seed=settings["seed"],
    )
    acc = torch_models.accuracy(model, torch_models.to_tensor(digits.x_test, arch), digits.y_test)
    return save_torch(
        model,
        arch,
        {
            "test_accuracy": acc,
            "epochs": epochs,
            "rebuilt": True,
            "params": torch_models.count_params(model),
        },
    )


def ensure(framework: str, arch: str) -> Path:
    """The artifact's path, rebuilding it first (with a message) when it is missing or damaged."""
    reason = problem(framework, arch)
    if reason is not None:
        rebuild(framework, arch, reason)
    return path(framework, arch)


def load_keras(arch: str) -> Any:
    """The saved Keras baseline (rebuilt when missing)."""
    from labkit.models.keras_models import keras

    return keras.models.load_model(ensure("keras", arch))


def load_torch(arch: str) -> Any:
    """The saved PyTorch baseline (rebuilt when missing), loaded with weights_only=True."""
    from labkit.models import torch_models

    return torch_models.load_weights(torch_models.build(arch), ensure("torch", arch)).eval()


EXPORTS = {"torchscript": "{arch}.torchscript.pt", "exported": "{arch}.pt2"}


def export_path(arch: str, kind: str) -> Path:
    """Where notebook 05 saves a PyTorch baseline exported as `torchscript` or `exported` (torch.export)."""
    if kind not in EXPORTS or arch not in ("mlp", "cnn"):
        raise ValueError(
            f"no export for arch={arch!r}, kind={kind!r}; allowed: arch 'mlp' or 'cnn', "
            f"kind {' or '.join(repr(k) for k in EXPORTS)}."
        )
    return paths.artifacts_dir() / "export" / EXPORTS[kind].format(arch=arch)


def save_export(arch: str, kind: str, save: Callable[[Path], Any], *, details: dict[str, Any]) -> Path:
    """Write an export with `save(temporary_path)`, move it into place, and record its sidecar."""
    target = export_path(arch, kind)
    with files.replacing(target) as tmp:
        save(tmp)
    return _record_sidecar(target, details)


def ensure_torchscript(arch: str) -> Path:
    """Notebook 05's TorchScript export of `arch`, re-exported (as 05 does) when missing or damaged."""
    target = export_path(arch, "torchscript")
    reason = _file_problem(target)
    if reason is None:
        return target
    from labkit.models import torch_models

    print(f"Export {reason}: scripting the PyTorch {arch.upper()} as 05_pytorch_compression does.")
    scripted = torch_models.script(load_torch(arch))
    details = {
        "source": "labkit.models.artifacts.ensure_torchscript",
        "test_accuracy": info("torch", arch)["test_accuracy"],
    }
    return save_export(arch, "torchscript", lambda tmp: scripted.save(str(tmp)), details=details)


def ensure_wide_mlp(units: int, epochs: int, seed: int) -> Path:
    """11's wide MLP (two `units`-wide hidden layers) as TorchScript: trained, scripted and saved with a
    checksum when missing or damaged, otherwise the saved file (its folder keyed by units, epochs and seed;
    the file is named as 11's service names the model: wide_mlp)."""
    target = (
        paths.artifacts_dir() / "service" / f"wide_u{units}_e{epochs}_s{seed}" / "wide_mlp.torchscript.pt"
    )
    reason = _file_problem(target)
    if reason is None:
        return target
    import torch

    from labkit.models import torch_models

    print(f"Wide MLP {reason}: training it ({units}-unit hidden layers, {epochs} epochs, seed {seed}).")
    digits = data.load_digits28()
    torch.manual_seed(seed)
    wide = torch_models.MLP(hidden=(units, units))
    torch_models.train(wide, digits, arch="mlp", epochs=epochs, seed=seed)
    wide.eval()
    accuracy = torch_models.accuracy(wide, torch.from_numpy(digits.x_test), digits.y_test)
    scripted = torch_models.script(wide)
    with files.replacing(target) as tmp:
        scripted.save(str(tmp))
    details = {
        "source": "labkit.models.artifacts.ensure_wide_mlp",
        "test_accuracy": accuracy,
        "params": torch_models.count_params(wide),
        "units": units,
        "epochs": epochs,
        "seed": seed,
    }
    return _record_sidecar(target, details)


def saved_details(target: Path) -> dict[str, Any]:
    """What was recorded beside a saved file (accuracy, parameters, checksum, ...)."""
    return json.loads(_sidecar(target).read_text(encoding="utf-8"))
