"""What every deployment runtime shares: an import with a clear message, input and file checks, parity."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

INSTALL = "run `make venv` (the `runtimes` extra of labkit) to install it"


def require(module: str, what: str) -> ModuleType:
    """Import a runtime's module, or one sentence saying it is not installed and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ModuleNotFoundError(f"{what} is not installed ({error}); {INSTALL}.") from None


def existing_file(path: str | Path, what: str) -> Path:
    """The path when the file exists and is not empty, else one sentence naming it."""
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"{what} {target} does not exist; export or convert the model first.")
    if target.stat().st_size == 0:
        raise ValueError(f"{what} {target} is empty (an interrupted write?); export or convert it again.")
    return target


def check_input(x: Any, shape: tuple[int | None, ...], dtype: np.dtype, *, where: str) -> np.ndarray:
    """`x` as an array when it has the model's dtype and shape (None: any size), else one clear sentence."""
    if not isinstance(x, np.ndarray) or x.dtype != dtype:
        found = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{where} takes a {np.dtype(dtype).name} array; got {found}. Convert with .astype().")
    if x.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(x.shape, shape, strict=True)
    ):
        expected = "x".join("N" if d is None else str(d) for d in shape)
        raise ValueError(f"{where} takes inputs shaped {expected}; got {'x'.join(map(str, x.shape))}.")
    return x


@dataclass(frozen=True)
class Parity:
    """How far a converted model's outputs are from the source framework's, on the same inputs."""

    max_abs_diff: float
    top1_agreement: float
    examples: int

    def line(self) -> str:
        return (
            f"max |diff| {self.max_abs_diff:.1e}, top-1 agreement {100 * self.top1_agreement:.2f}% "
            f"of {self.examples}"
        )


def parity(reference: np.ndarray, candidate: np.ndarray) -> Parity:
    """Max absolute output difference and the share of examples whose top-1 class agrees."""
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    if reference.shape != candidate.shape:
        raise ValueError(f"outputs differ in shape: {reference.shape} against {candidate.shape}.")
    return Parity(
        max_abs_diff=float(np.abs(reference.astype(np.float64) - candidate).max()),
        top1_agreement=float(np.mean(reference.argmax(-1) == candidate.argmax(-1))),
        examples=len(reference),
    )


def in_batches(fn: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """`fn` over `x` in batches of exactly `batch_size` (a model compiled for one batch size); the last
    batch is padded with copies of its final row and the padding's outputs dropped."""
    parts = []
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size]
        short = batch_size - len(chunk)
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], short, axis=0)]) if short else chunk
        parts.append(np.asarray(fn(padded))[: len(chunk)])
    return np.concatenate(parts)
