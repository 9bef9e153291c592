"""Model sizes the compression notebooks compare: file bytes, gzip bytes and sparsity.

Framework-free (NumPy and the standard library), so they are unit-tested without TensorFlow.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def gzip_bytes(payload: bytes | Path) -> int:
    """Size after gzip at level 9 with a fixed header (mtime 0): what sparsity saves on disk."""
    raw = Path(payload).read_bytes() if isinstance(payload, Path) else payload
    return len(gzip.compress(raw, compresslevel=9, mtime=0))


def sparsity(arrays: Iterable[np.ndarray]) -> float:
    """Fraction of exact zeros over all the given arrays (the measured, not the scheduled, sparsity)."""
    arrays = [np.asarray(a) for a in arrays]
    total = sum(a.size for a in arrays)
    if total == 0:
        raise ValueError("sparsity of no weights is undefined; pass at least one non-empty array.")
    return sum(int(np.count_nonzero(a == 0)) for a in arrays) / total


def m_by_n_fraction(kernel: np.ndarray, m: int = 2, n: int = 4) -> float:
    """Fraction of n-long blocks along a dense kernel's input axis with at least m zeros.

    1.0 means the kernel follows the m:n pattern sparse tensor cores accelerate (2:4 on NVIDIA Ampere+).
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[0] % n:
        raise ValueError(f"m:n blocks need a 2-D kernel whose input size divides by {n}; got {kernel.shape}.")
    blocks = (kernel == 0).reshape(kernel.shape[0] // n, n, kernel.shape[1]).sum(axis=1)
    return float(np.mean(blocks >= m))
