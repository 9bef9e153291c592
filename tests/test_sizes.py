"""labkit.compress.sizes and params.float_list, on hand-computed examples."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from labkit.compress import sizes
from labkit.workbook import params


def test_sparsity_counts_exact_zeros_only() -> None:
    a = np.array([[0.0, 1e-12], [-0.0, 3.0]])
    b = np.zeros(4)
    assert sizes.sparsity([a, b]) == 6 / 8, sizes.sparsity([a, b])
    with pytest.raises(ValueError, match="sparsity of no weights"):
        sizes.sparsity([])


def test_gzip_bytes_of_zeros_and_noise(tmp_path: Path) -> None:
    zeros = np.zeros(10_000, dtype=np.float32).tobytes()
    noise = np.random.default_rng(0).standard_normal(10_000).astype(np.float32).tobytes()
    assert sizes.gzip_bytes(zeros) < 200, sizes.gzip_bytes(zeros)
    assert sizes.gzip_bytes(noise) > 0.8 * len(noise), (sizes.gzip_bytes(noise), len(noise))
    path = tmp_path / "w.bin"
    path.write_bytes(noise)
    assert sizes.gzip_bytes(path) == sizes.gzip_bytes(noise)
    assert sizes.gzip_bytes(noise) == len(gzip.compress(noise, compresslevel=9, mtime=0))


def test_m_by_n_fraction_by_hand() -> None:
    kernel = np.array(
        [[0, 1], [0, 1], [1, 0], [1, 1], [0, 0], [0, 1], [0, 1], [1, 1]], dtype=np.float32
    )  # column 0: blocks have 2 and 3 zeros; column 1: 1 and 1 zeros
    assert sizes.m_by_n_fraction(kernel, 2, 4) == 0.5, sizes.m_by_n_fraction(kernel, 2, 4)
    assert sizes.m_by_n_fraction(np.zeros((8, 3)), 2, 4) == 1.0
    with pytest.raises(ValueError, match=r"divides by 4; got \(6, 2\)"):
        sizes.m_by_n_fraction(np.zeros((6, 2)))


def test_float_list_parameter() -> None:
    assert params.float_list("sweep", "0.5, 0.8,0.9", minimum=0.0, maximum=0.99) == [0.5, 0.8, 0.9]
    for bad in ("", "0.5,x", "0.5,1.5"):
        with pytest.raises(
            ValueError, match=r"parameter 'sweep' got .*comma-separated numbers in \[0.0, 0.99\]"
        ):
            params.float_list("sweep", bad, minimum=0.0, maximum=0.99)
