"""The case study's classifier: MobileNetV2 from `keras.applications` with its preprocessing in the graph.

Trained from scratch by default. ImageNet weights are opt-in: loaded from the Keras cache when the file is
there; downloaded only when asked (`download=True`), and a failed download is one clear sentence. Without
`download` nothing touches the network, so the default run never downloads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from labkit.core import tf_env

IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)
IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
PREPROCESS_LAYER = "preprocess_input"
BASE_LAYER = "mobilenetv2_base"


def imagenet_weights_file(alpha: float, image_size: int) -> Path:
    """Where MobileNetV2's ImageNet weights (no top) for this alpha and input size are cached."""
    rows = image_size if image_size in IMAGENET_SIZES else 224  # Keras falls back to the 224 weights
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    return keras_home / "models" / name


def _download(url: str, target: Path) -> None:
    """Fetch the weights file into the cache (Keras' get_file: atomic, resumable)."""
    keras = tf_env.import_tensorflow().keras
    keras.utils.get_file(
        target.name, url, cache_dir=str(target.parent.parent), cache_subdir=target.parent.name
    )


def _imagenet_base(alpha: float, shape: tuple[int, int, int], *, download: bool) -> Any:
    """MobileNetV2 with ImageNet weights from the cache; downloaded first only when `download` is True."""
    keras = tf_env.import_tensorflow().keras
    if alpha not in IMAGENET_ALPHAS:
        raise ValueError(f"ImageNet weights exist for alpha in {IMAGENET_ALPHAS}; got alpha={alpha}.")
    cached = imagenet_weights_file(alpha, shape[0])
    if not cached.exists() and not download:
        raise FileNotFoundError(
            f"MobileNetV2 ImageNet weights are not in the Keras cache ({cached}) and this run does not "
            "download them; run with weights='imagenet' on a machine online to fetch them once, or copy the "
            "file there."
        )
    if not cached.exists():
        try:
            _download(IMAGENET_URL + cached.name, cached)
        except Exception as error:  # Keras raises a bare Exception ("URL fetch failure") when offline
            reason = str(error).split(" -- ")[-1][:80]  # Keras' message ends with the network error
            raise FileNotFoundError(
                f"MobileNetV2 ImageNet weights are not in the Keras cache ({cached}) and could not be "
                f"downloaded ({reason}); run the notebook once online or copy the file there, or use "
                "weights='none' to train from scratch."
            ) from None
    with tf_env.quiet():
        base = keras.applications.MobileNetV2(
            input_shape=shape, alpha=alpha, include_top=False, weights=None, pooling="avg"
        )
        base.load_weights(str(cached))  # what weights="imagenet" does after its download
    return base


def build(
    num_classes: int,
    image_size: int,
    alpha: float = 0.35,
    *,
    weights: str = "none",
    download: bool = False,
    bn_momentum: float = 0.9,
    seed: int = 0,
) -> Any:
    """A Keras classifier: 0-255 pixels -> preprocess_input (a layer) -> MobileNetV2 -> softmax.

    `weights="none"` initialises from `seed` and sets batch-norm momentum to `bn_momentum`: Keras' 0.999
    suits ImageNet's many steps, but a few hundred steps leave its moving averages near their initial
    values and the model predicts one class at inference. `weights="imagenet"` freezes the base; it reads
    the Keras cache, and fetches the file first only with `download=True` (otherwise a missing file is a
    FileNotFoundError before any network access).
    """
    keras = tf_env.import_tensorflow().keras
    if weights not in ("none", "imagenet"):
        raise ValueError(f"weights must be 'none' or 'imagenet'; got {weights!r}.")
    shape = (image_size, image_size, 3)
    keras.utils.set_random_seed(seed)
    if weights == "imagenet":
        base = _imagenet_base(alpha, shape, download=download)
        base.trainable = False
    else:
        base = keras.applications.MobileNetV2(
            input_shape=shape, alpha=alpha, include_top=False, weights=None, pooling="avg"
        )
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = bn_momentum
    base._name = BASE_LAYER
    pixels = keras.Input(shape, name="pixels")
    # mobilenet_v2.preprocess_input computes x / 127.5 - 1; as a layer it travels with the model.
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name=PREPROCESS_LAYER)(pixels)
    features = base(x, training=False) if weights == "imagenet" else base(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(features)
    return keras.Model(pixels, probabilities, name="shapes_mobilenetv2")


def without_preprocessing(model: Any) -> Any:
    """The same trained layers with the preprocess_input layer skipped: the source article's input path."""
    keras = tf_env.import_tensorflow().keras
    pixels = keras.Input(model.input_shape[1:], name="pixels")
    features = model.get_layer(BASE_LAYER)(pixels)
    return keras.Model(pixels, model.get_layer("probabilities")(features))


def case_study_champion(
    pixels: dict[str, Any], labels: dict[str, Any], *, settings: dict[str, Any]
) -> tuple[Any, str]:
    """Notebook 13's registered champion (its checksum verified) and a line saying where it came from.

    When 13 has not run here (or its file is damaged), the same architecture is trained on the same data
    with 13's settings (image size, alpha, epochs, rate; Adam with one warm-up epoch and cosine decay,
    without 13's augmentation), and the line says so: a stand-in, not 13's model.
    """
    from labkit.core import paths
    from labkit.ops import registry

    root = paths.artifacts_dir() / "case_study" / "registry"
    if (root / "index.json").exists():
        models = registry.ModelRegistry(root, "shapes_classifier")
        try:
            version = models.resolve("champion")
            return models.load(version), f"notebook 13's registered champion ({version})"
        except (FileNotFoundError, ValueError) as error:
            reason = str(error)
    else:
        reason = f"notebook 13 has not saved its registry here ({root})"
    keras = tf_env.import_tensorflow().keras
    epochs, rate, batch = settings["epochs"], settings["learning_rate"], settings["batch_size"]
    print(
        f"{reason}: training a stand-in, 13's architecture and settings for {epochs} epochs (about a minute)."
    )
    model = build(
        int(labels["train"].max()) + 1, settings["image_size"], settings["alpha"], seed=settings["seed"]
    )
    per_epoch = -(-len(labels["train"]) // batch)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, (epochs - 1) * per_epoch or 1, warmup_target=rate, warmup_steps=per_epoch
    )
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy")
    model.fit(pixels["train"], labels["train"], batch_size=batch, epochs=epochs, verbose=0, shuffle=True)
    return model, "a stand-in trained here (run notebook 13 to use its registered model)"
