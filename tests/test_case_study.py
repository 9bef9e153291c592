"""The case study's labkit parts: MobileNetV2 with preprocessing inside, the offline ImageNet error,
03's converter as a function, where an int8 file's bytes go, and a SavedModel export that serves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labkit import data
from labkit.compress import litert
from labkit.core import tf_env
from labkit.models import mobilenet
from labkit.serve import saved_models

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tf():
    return tf_env.import_tensorflow()


def test_the_first_layer_is_preprocess_input_and_batch_norm_is_fast(tf) -> None:
    model = mobilenet.build(5, 32, alpha=0.35, seed=0)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    ours = model.get_layer(mobilenet.PREPROCESS_LAYER)(x).numpy()
    keras_reference = tf.keras.applications.mobilenet_v2.preprocess_input(x.copy())
    assert np.abs(ours - keras_reference).max() < 1e-6, np.abs(ours - keras_reference).max()
    norms = [
        layer.momentum
        for layer in model.get_layer(mobilenet.BASE_LAYER).layers
        if isinstance(layer, tf.keras.layers.BatchNormalization)
    ]
    assert len(norms) > 30 and set(norms) == {0.9}, (len(norms), set(norms))
    assert model.output_shape == (None, 5), model.output_shape
    skipped = mobilenet.without_preprocessing(model)
    assert skipped.get_layer(mobilenet.BASE_LAYER) is model.get_layer(mobilenet.BASE_LAYER)
    gap = np.abs(skipped(ours).numpy() - model(x).numpy()).max()
    assert gap < 1e-5, f"the skipped-preprocessing model on preprocessed input differs by {gap}"


def test_imagenet_weights_are_never_downloaded_unless_asked(tf, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("the default path must not touch the network")

    monkeypatch.setattr(mobilenet, "_download", no_network)
    with pytest.raises(FileNotFoundError) as caught:
        mobilenet.build(5, 96, alpha=0.35, weights="imagenet")  # download=False is the default
    message = str(caught.value)
    expected = tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert str(expected) in message and "does not download" in message, message
    assert "weights='imagenet'" in message and message.count(". ") == 0, message


def test_imagenet_weights_offline_fail_with_one_sentence(tf, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise Exception(
            "URL fetch failure on https://x: None -- [Errno -3] Temporary failure in name resolution"
        )

    monkeypatch.setattr(mobilenet, "_download", offline)
    with pytest.raises(FileNotFoundError) as caught:
        mobilenet.build(5, 96, alpha=0.35, weights="imagenet", download=True)
    message = str(caught.value)
    expected = tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert str(expected) in message and "Temporary failure in name resolution" in message, message
    assert "weights='none'" in message and message.count(". ") == 0, message
    with pytest.raises(ValueError, match="alpha in"):
        mobilenet.build(5, 96, alpha=0.4, weights="imagenet")
    with pytest.raises(ValueError, match="'none' or 'imagenet'"):
        mobilenet.build(5, 96, weights="cache")


def test_cached_imagenet_weights_load_without_download(tf, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(mobilenet, "_download", lambda *a, **k: pytest.fail("a cached file is not fetched"))
    donor = tf.keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None, pooling="avg"
    )
    cached = mobilenet.imagenet_weights_file(0.35, 96)
    cached.parent.mkdir(parents=True)
    donor.save_weights(str(cached))
    model = mobilenet.build(5, 96, alpha=0.35, weights="imagenet")
    base = model.get_layer(mobilenet.BASE_LAYER)
    assert not base.trainable
    assert all(np.array_equal(a, b) for a, b in zip(base.get_weights(), donor.get_weights(), strict=True))


def test_tensorflow_determinism_repeats_a_training_step(tf) -> None:
    from labkit.core import seeding

    def one_step() -> list[np.ndarray]:
        seeding.tensorflow_determinism(3)
        model = mobilenet.build(5, 32, alpha=0.35, seed=3)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
        model.train_on_batch(x, np.arange(8) % 5)
        return model.get_weights()

    try:
        first, second = one_step(), one_step()
        assert seeding.set_op_determinism(True)  # it was on
    finally:
        seeding.tensorflow_determinism(0, enabled=False)
    assert not seeding.set_op_determinism(False)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_imagenet_file_name_follows_keras_sizes() -> None:
    assert mobilenet.imagenet_weights_file(0.5, 128).name.endswith("_0.5_128_no_top.h5")
    assert mobilenet.imagenet_weights_file(0.35, 64).name.endswith("_0.35_224_no_top.h5")  # Keras' fallback


@pytest.fixture(scope="module")
def small_cnn(tf):
    rng = np.random.default_rng(0)
    model = tf.keras.Sequential(
        [
            tf.keras.Input((16, 16, 3)),
            tf.keras.layers.Conv2D(32, 3, activation="relu"),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(4),
        ]
    )
    model.set_weights(
        [rng.normal(0, 0.2, w.shape).astype(np.float32) for w in model.get_weights()]
    )  # no zero bias
    return model, rng.uniform(0, 1, (32, 16, 16, 3)).astype(np.float32)


def test_convert_refuses_unknown_variants_and_int8_without_data(small_cnn) -> None:
    model, _ = small_cnn
    with pytest.raises(ValueError, match="variant must be one of float32, dynamic, float16, int8"):
        litert.convert(model, "int4")
    with pytest.raises(ValueError, match="representative dataset"):
        litert.convert(model, "int8")


def test_size_breakdown_accounts_for_every_weight(small_cnn) -> None:
    model, x = small_cnn
    float_blob = litert.convert(model, "float32")
    int8_blob = litert.convert(model, "int8", lambda: ([x[i : i + 1]] for i in range(len(x))))
    before, after = litert.size_breakdown(float_blob), litert.size_breakdown(int8_blob)
    weights = 3 * 3 * 3 * 32 + 32 * 4
    assert before["float32 weights"] == 4 * (weights + 32 + 4), before
    shapes = before["int32 biases"]  # int32 shape constants, in both files
    assert after["int8 weights"] == weights and after["int32 biases"] - shapes == 4 * (32 + 4), (
        before,
        after,
    )
    assert after["quantization parameters"] >= 12 * (32 + 4), after  # a scale and a zero point per channel
    assert sum(after.values()) == len(int8_blob) and min(after.values()) >= 0, after


def test_export_writes_an_immutable_version_that_serves(small_cnn, tmp_path: Path) -> None:
    model, x = small_cnn
    base = tmp_path / "cnn"
    target = saved_models.export(model, base, 1)
    assert target == base / "1" and saved_models.discover(base) == [1], list(base.iterdir())
    assert not list(base.glob(".staging-*")), list(base.iterdir())
    version = saved_models.Version.load(1, target)
    out = version.run("serving_default", {"pixels": x[:3]})["probabilities"]
    assert np.abs(out - model(x[:3]).numpy()).max() < 1e-5
    with pytest.raises(FileExistsError, match="export as version 2"):
        saved_models.export(model, base, 1)


def test_case_study_shapes_are_checksummed() -> None:
    assert data._shapes_entry({"n_per_class": 400, "size": 64, "seed": 0}) == "shapes_case_study"
    assert data._shapes_entry({"n_per_class": 200, "size": 64, "seed": 0}) == "shapes"
    assert data._shapes_entry({"n_per_class": 300, "size": 64, "seed": 0}) is None
