"""The series' shared Keras models (taught in 01_baseline_models): the source article's MLP and a small CNN.

Built with `tf.keras`, which is Keras 2 (`tf-keras`) here because tensorflow-model-optimization needs
it (labkit.core.tf_env). Imported only by notebooks that use TensorFlow.
"""

from __future__ import annotations

import numpy as np

from labkit.core.tf_env import import_tensorflow
from labkit.data import Splits

tf = import_tensorflow()
keras = tf.keras


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_mlp(seed: int = 0) -> keras.Model:
    """The source article's MLP, 784-128-64-10, softmax output; 109,386 parameters."""
    set_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(784,), name="pixels"),
            keras.layers.Dense(128, activation="relu", name="dense_1"),
            keras.layers.Dense(64, activation="relu", name="dense_2"),
            keras.layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="article_mlp",
    )


def build_cnn(seed: int = 0) -> keras.Model:
    """A small CNN for 28x28x1 digits: two 3x3 conv + max-pool blocks and a dense softmax."""
    set_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            keras.layers.Conv2D(16, 3, activation="relu", name="conv_1"),
            keras.layers.MaxPooling2D(2, name="pool_1"),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv_2"),
            keras.layers.MaxPooling2D(2, name="pool_2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="small_cnn",
    )


def build(arch: str, seed: int = 0) -> keras.Model:
    """`mlp` or `cnn`."""
    builders = {"mlp": build_mlp, "cnn": build_cnn}
    if arch not in builders:
        raise ValueError(f"unknown architecture {arch!r}; allowed: 'mlp' or 'cnn'.")
    return builders[arch](seed)


def train(
    model: keras.Model,
    data: Splits,
    *,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> dict[str, list[float]]:
    """Compile with Adam and sparse cross-entropy, fit on train, validate on val (never on test)."""
    set_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(data.x_val, data.y_val),
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


class EpochPredictions(keras.callbacks.Callback):
    """The predicted class of every row of `x` after each epoch: `predictions` is (epochs, len(x)).

    Notebook 01 uses it on the test set to measure what choosing a checkpoint by test accuracy costs;
    it observes only, so training is the same with or without it.
    """

    def __init__(self, x: np.ndarray) -> None:
        super().__init__()
        self.x = np.asarray(x, dtype=np.float32)
        self.rows: list[np.ndarray] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        probabilities = self.model(self.x, training=False)
        self.rows.append(np.argmax(np.asarray(probabilities), axis=1))

    @property
    def predictions(self) -> np.ndarray:
        return np.stack(self.rows)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy on (x, y)."""
    probabilities = model.predict(x, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == y))
