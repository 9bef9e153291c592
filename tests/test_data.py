"""labkit.data: checksums, deterministic generation and splits, the offline MNIST error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from labkit import data


def test_digits_shapes_split_and_range() -> None:
    flat = data.load_digits28()
    images = data.load_digits28(flat=False)
    assert flat.sizes() == {"train": 1151, "val": 287, "test": 359}, flat.sizes()
    assert flat.x_train.shape == (1151, 784) and images.x_train.shape == (1151, 28, 28, 1)
    assert flat.x_train.dtype == np.float32 and flat.y_train.dtype == np.int64
    assert 0.0 == flat.x_train.min() and flat.x_train.max() == 1.0, (flat.x_train.min(), flat.x_train.max())
    assert np.array_equal(flat.x_test.reshape(-1, 28, 28, 1), images.x_test)
    counts = np.bincount(flat.y_test)
    assert counts.min() >= 34 and counts.max() <= 37, f"test split not stratified: {counts}"


def test_digit_border_is_empty_like_mnist() -> None:
    images = data.load_digits28(flat=False).x_train[..., 0]
    border = np.concatenate([images[:, :4].ravel(), images[:, 24:].ravel(), images[:, :, :4].ravel()])
    assert border.max() == 0.0, f"border max {border.max()}"


def test_upsampling_keeps_constant_images_constant() -> None:
    full = np.full((1, 8, 8), 16)
    out = data.upsample_digits(full)
    assert out[0, 4:24, 4:24].min() == 255 and out[0, 4:24, 4:24].max() == 255, out[0, 4:24, 4:24]


def test_corrupted_dataset_file_is_named(tmp_path: Path) -> None:
    damaged = tmp_path / "digits.csv.gz"
    shutil.copy(data.shipped_file("digits.csv.gz"), damaged)
    raw = bytearray(damaged.read_bytes())
    raw[1000] ^= 0x01
    damaged.write_bytes(raw)
    with pytest.raises(ValueError, match=rf"dataset file {damaged} \(digits.csv.gz\) is corrupted"):
        data.load_digits28(source=damaged)


def test_missing_dataset_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="digits.csv.gz"):
        data.load_digits28(source=tmp_path / "nothing.csv.gz")


def test_generated_array_mismatch_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "SPLIT_SEED", 1)
    with pytest.raises(ValueError, match=r"generated dataset 'digits28' \(split split\)"):
        data.load_digits28()


def test_shapes_are_deterministic_balanced_and_sized() -> None:
    a_images, a_labels = data.generate_shapes(n_per_class=6, size=32, seed=5)
    b_images, b_labels = data.generate_shapes(n_per_class=6, size=32, seed=5)
    c_images, _ = data.generate_shapes(n_per_class=6, size=32, seed=6)
    assert np.array_equal(a_images, b_images) and np.array_equal(a_labels, b_labels)
    assert not np.array_equal(a_images, c_images), "a different seed gave the same images"
    assert a_images.shape == (30, 32, 32, 3) and a_images.dtype == np.uint8, a_images.shape
    assert np.bincount(a_labels).tolist() == [6] * 5, np.bincount(a_labels)
    assert len(data.SHAPE_CLASSES) >= 5


def test_shapes_default_matches_manifest_and_classes_differ() -> None:
    shapes = data.load_shapes()
    assert shapes.sizes() == {"train": 700, "val": 150, "test": 150}, shapes.sizes()
    masks = [data._draw_shape(kind, 64, 32, cy=32, r=16, angle=0.3) for kind in data.SHAPE_CLASSES]
    areas = [int(m.sum()) for m in masks]
    assert len(set(areas)) == len(areas), f"two shape classes draw the same mask area: {areas}"


def test_bad_shapes_parameters() -> None:
    with pytest.raises(ValueError, match="size >= 16; got n_per_class=10, size=8"):
        data.generate_shapes(n_per_class=10, size=8)


def test_sample_image_is_verified() -> None:
    image = data.load_sample_image("china.jpg")
    assert image.shape == (427, 640, 3) and image.dtype == np.uint8, image.shape


def test_mnist_offline_is_one_clear_sentence(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/mnist.npz"  # the discard port: connection refused, like offline
    with pytest.raises(
        RuntimeError, match=r"^Could not download MNIST from .*use labkit.data.load_digits28\(\)"
    ):
        data.load_mnist(cache_dir=tmp_path, url=url, timeout=5)
    assert list(tmp_path.iterdir()) == [], "a failed download must leave nothing behind"


def test_mnist_cached_file_with_wrong_checksum_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mnist.npz").write_bytes(b"not mnist")
    with pytest.raises(ValueError, match=r"mnist.npz \(mnist.npz\) is corrupted"):
        data.load_mnist(cache_dir=tmp_path)


def test_mnist_download_checks_sha256_before_keeping(tmp_path: Path) -> None:
    source = tmp_path / "served.npz"
    source.write_bytes(b"something else")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="the file was not kept"):
        data.load_mnist(cache_dir=cache, url=source.as_uri())
    assert list(cache.iterdir()) == [], list(cache.iterdir())


def test_slow_decode_images_costs_its_decode_time() -> None:
    import time

    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    dataset = data.SlowDecodeImages(images, np.array([3, 1]), decode_ms=20.0)
    start = time.perf_counter()
    image, label = dataset[1]
    elapsed_ms = 1000 * (time.perf_counter() - start)
    assert len(dataset) == 2 and label == 1 and image.dtype == np.float32, (len(dataset), label, image.dtype)
    assert np.allclose(image, images[1] / 255.0) and elapsed_ms >= 19.0, elapsed_ms
