"""The workbook's data: digits at 28x28, the generated shapes images, and optional MNIST.

Everything on the default path is shipped (scikit-learn's digits and sample images) or generated
(seeded, deterministic), and checked against the SHA-256 values in `datasets/manifest.json`: a changed
file or a generator that no longer reproduces its arrays is a clear error naming what differs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from labkit.core import paths

DIGITS_SPLIT = (0.64, 0.16, 0.20)
SPLIT_SEED = 0
SHAPE_CLASSES = ("circle", "square", "triangle", "cross", "ring")
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


@dataclass(frozen=True)
class Splits:
    """Train/validation/test arrays of one dataset; x is float32 in [0, 1], y is int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_arrays(*arrays: np.ndarray) -> str:
    """One digest over dtype, shape and bytes of each array, so a reshaped array does not match."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


@cache
def manifest() -> dict[str, Any]:
    """`datasets/manifest.json`, read once."""
    return json.loads((paths.datasets_dir() / "manifest.json").read_text(encoding="utf-8"))


def shipped_file(name: str) -> Path:
    """Where a file listed under `files` in the manifest lies on this machine."""
    entry = manifest()["files"][name]
    package, _, relative = entry["location"].partition(":")
    if package == "repo":
        return paths.repo_root() / relative
    return Path(str(resources.files(package).joinpath(relative)))


def verify_file(path: Path, expected: str, name: str) -> None:
    """Raise ValueError naming the file when its SHA-256 is not the manifest's."""
    if not Path(path).exists():
        raise FileNotFoundError(f"dataset file {path} ({name}) is missing; reinstall the package.")
    actual = sha256_file(path)
    if actual != expected:
        raise ValueError(
            f"dataset file {path} ({name}) is corrupted or changed: SHA-256 {actual[:16]}..., "
            f"manifest expects {expected[:16]}...; reinstall it (pip install --force-reinstall)."
        )


def verify_generated(name: str, split: str, digest: str) -> None:
    """Raise ValueError when a generated array no longer matches the manifest for default params."""
    expected = manifest()["generated"][name]["sha256"][split]
    if digest != expected:
        raise ValueError(
            f"generated dataset {name!r} ({split} split) has SHA-256 {digest[:16]}..., manifest "
            f"expects {expected[:16]}...; the generator or its inputs changed, so results would "
            "not compare with earlier runs."
        )


def _bilinear_weights(n_in: int, n_out: int) -> np.ndarray:
    """Integer bilinear weights (in tenths, exact) mapping n_in pixels to n_out; rows sum to 10."""
    weights = np.zeros((n_out, n_in), dtype=np.int64)
    for i in range(n_out):
        tenths = (2 * i + 1) * 10 * n_in // (2 * n_out) - 5
        j0, frac = divmod(max(tenths, 0), 10)
        j0 = min(j0, n_in - 1)
        j1 = min(j0 + 1, n_in - 1)
        weights[i, j0] += 10 - frac
        weights[i, j1] += frac
    return weights


def upsample_digits(images8: np.ndarray) -> np.ndarray:
    """8x8 digits (0..16) to 28x28 uint8 the way MNIST frames them: a 20x20 digit, 4-pixel border.

    Integer arithmetic only, so the result is bit-identical on every machine.
    """
    weights = _bilinear_weights(8, 20)
    scaled = np.einsum("ij,njk,lk->nil", weights, images8.astype(np.int64), weights)
    pixels = (scaled * 255 + 800) // 1600
    out = np.zeros((len(images8), 28, 28), dtype=np.uint8)
    out[:, 4:24, 4:24] = pixels.astype(np.uint8)
    return out


def stratified_split(y: np.ndarray, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """0/1/2 (train/val/test) per sample, same class balance in each part, fixed by `seed`."""
    rng = np.random.RandomState(seed)
    assignment = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        index = np.flatnonzero(y == label)
        rng.shuffle(index)
        n_test = int(round(fractions[2] * len(index)))
        n_val = int(round(fractions[1] * len(index)))
        assignment[index[:n_test]] = 2
        assignment[index[n_test : n_test + n_val]] = 1
        assignment[index[n_test + n_val :]] = 0
    return assignment


def read_digits_csv(source: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits file (checksum verified): 1,797 8x8 images (0..16) and labels."""
    path = Path(source) if source else shipped_file("digits.csv.gz")
    verify_file(path, manifest()["files"]["digits.csv.gz"]["sha256"], "digits.csv.gz")
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1]


def _pack(name: str, x: np.ndarray, y: np.ndarray, *, parts: np.ndarray, classes) -> Splits:
    as_float = x.astype(np.float32) / 255.0
    pick = [parts == k for k in range(3)]
    return Splits(
        name,
        as_float[pick[0]],
        y[pick[0]],
        as_float[pick[1]],
        y[pick[1]],
        as_float[pick[2]],
        y[pick[2]],
        tuple(classes),
    )


def load_digits28(flat: bool = True, source: Path | None = None) -> Splits:
    """Digits upsampled to 28x28, split 64/16/20 (train/val/test), stratified and fixed.

    `flat=True` gives 784 features (the source article's MLP); `flat=False` gives 28x28x1 images (CNNs).
    """
    images8, labels = read_digits_csv(source)
    x = upsample_digits(images8)
    parts = stratified_split(labels, DIGITS_SPLIT, SPLIT_SEED)
    verify_generated("digits28", "x", sha256_arrays(x))
    verify_generated("digits28", "split", sha256_arrays(labels, parts))
    shape = (-1, 784) if flat else (-1, 28, 28, 1)
    return _pack("digits28", x.reshape(shape), labels, parts=parts, classes=[str(d) for d in range(10)])


def _draw_shape(kind: str, size: int, cx: float, *, cy: float, r: float, angle: float) -> np.ndarray:
    """Boolean mask of one shape on a size x size grid."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    dx, dy = xx - cx, yy - cy
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    if kind == "circle":
        return dx * dx + dy * dy <= r * r
    if kind == "ring":
        d2 = dx * dx + dy * dy
        return (d2 <= r * r) & (d2 >= (0.6 * r) ** 2)
    if kind == "square":
        return (np.abs(u) <= 0.8 * r) & (np.abs(v) <= 0.8 * r)
    if kind == "cross":
        arm = 0.3 * r
        return ((np.abs(u) <= arm) & (np.abs(v) <= r)) | ((np.abs(v) <= arm) & (np.abs(u) <= r))
    if kind == "triangle":
        corners = [(r * np.cos(a), r * np.sin(a)) for a in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6)]
        inside = np.ones_like(u, dtype=bool)
        for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
            inside &= (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0) >= 0
        return inside
    raise ValueError(f"unknown shape {kind!r}; known: {', '.join(SHAPE_CLASSES)}.")


def generate_shapes(n_per_class: int = 200, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 images of the shape classes: random position, size, rotation, colours and noise."""
    if n_per_class < 1 or size < 16:
        raise ValueError(
            f"shapes need n_per_class >= 1 and size >= 16; got n_per_class={n_per_class}, size={size}."
        )
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SHAPE_CLASSES)), n_per_class)
    rng.shuffle(labels)
    images = np.empty((len(labels), size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        r = rng.uniform(0.18, 0.32) * size
        cx, cy = rng.uniform(r, size - r, 2)
        mask = _draw_shape(SHAPE_CLASSES[label], size, cx, cy=cy, r=r, angle=rng.uniform(0, np.pi / 2))
        background = rng.uniform(0, 110, 3)
        foreground = rng.uniform(140, 255, 3)
        noise = rng.normal(0.0, 12.0, (size, size, 1))
        canvas = np.where(mask[..., None], foreground, background) + noise
        images[i] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def _shapes_entry(params: dict[str, int]) -> str | None:
    """The manifest entry recording the shapes generated with these parameters, if any."""
    for name, entry in manifest()["generated"].items():
        if entry["generator"] == "labkit.data.load_shapes" and entry["params"] == params:
            return name
    return None


def load_shapes(n_per_class: int = 200, size: int = 64, seed: int = 0) -> Splits:
    """The generated shapes dataset, split 70/15/15; checked against the manifest for every parameter set
    it records (the defaults and the case study's 400 per class)."""
    images, labels = generate_shapes(n_per_class, size, seed)
    parts = stratified_split(labels, (0.70, 0.15, 0.15), SPLIT_SEED)
    name = _shapes_entry({"n_per_class": n_per_class, "size": size, "seed": seed})
    if name is not None:
        verify_generated(name, "x", sha256_arrays(images))
        verify_generated(name, "split", sha256_arrays(labels, parts))
    return _pack("shapes", images, labels, parts=parts, classes=SHAPE_CLASSES)


def load_sample_image(name: str = "china.jpg") -> np.ndarray:
    """One of scikit-learn's shipped sample photos (checksum verified), as RGB uint8."""
    from sklearn.datasets import load_sample_image as sklearn_sample

    verify_file(shipped_file(name), manifest()["files"][name]["sha256"], name)
    return sklearn_sample(name)


def verify_all() -> dict[str, str]:
    """Verify every shipped file and generated array at its defaults; name -> 'ok'."""
    status = {}
    for name, entry in manifest()["files"].items():
        verify_file(shipped_file(name), entry["sha256"], name)
        status[name] = "ok"
    load_digits28()
    status["digits28 (generated)"] = "ok"
    for name, entry in manifest()["generated"].items():
        if entry["generator"] == "labkit.data.load_shapes":
            load_shapes(**entry["params"])
            status[f"{name} (generated)"] = "ok"
    return status


def _download(url: str, target: Path, expected: str, *, timeout: float) -> None:
    """Fetch `url` to `target` atomically, checking the SHA-256 before the file is kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        actual = sha256_file(Path(tmp))
        if actual != expected:
            raise ValueError(
                f"download of {url} has SHA-256 {actual[:16]}..., expected {expected[:16]}...; "
                "the file was not kept. Try again later or copy a verified copy into the cache."
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_mnist(cache_dir: Path | None = None, url: str = MNIST_URL, timeout: float = 30.0) -> Splits:
    """Optional: the real MNIST (cached, SHA-256 checked). Offline it fails with one clear sentence.

    Never on the default path; the digits dataset is the offline stand-in.
    """
    entry = manifest()["downloads"]["mnist.npz"]
    target = Path(cache_dir or paths.cache_dir()) / "mnist.npz"
    if not target.exists():
        try:
            _download(url, target, entry["sha256"], timeout=timeout)
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            raise RuntimeError(
                f"Could not download MNIST from {url} ({getattr(error, 'reason', error)}); this "
                f"machine may be offline: copy mnist.npz (SHA-256 {entry['sha256'][:16]}...) into "
                f"{target.parent} or use labkit.data.load_digits28(), which needs no network."
            ) from None
    verify_file(target, entry["sha256"], "mnist.npz")
    with np.load(target, allow_pickle=False) as npz:
        x_train, y_train = npz["x_train"], npz["y_train"].astype(np.int64)
        x_test, y_test = npz["x_test"], npz["y_test"].astype(np.int64)
    x = np.concatenate([x_train, x_test]).reshape(-1, 784)
    y = np.concatenate([y_train, y_test])
    parts = np.concatenate([np.zeros(50_000), np.ones(10_000), np.full(10_000, 2)]).astype(np.int64)
    return _pack("mnist", x, y, parts=parts, classes=[str(d) for d in range(10)])


class SlowDecodeImages:
    """A map-style dataset (PyTorch's `DataLoader` protocol) whose items cost `decode_ms` each.

    A stand-in for decoding or reading files in notebook 08; it lives here, not in the notebook, so that
    DataLoader worker processes started with `spawn` can import it. Items are (float32 HWC image, label).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, decode_ms: float) -> None:
        self.images, self.labels, self.decode_ms = images, labels, decode_ms

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        time.sleep(self.decode_ms / 1000)
        return self.images[index].astype(np.float32) / 255.0, int(self.labels[index])
