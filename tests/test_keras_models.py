"""labkit.models.keras_models: EpochPredictions records the test set per epoch without changing training."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from labkit import data  # noqa: E402
from labkit.models import keras_models  # noqa: E402

pytestmark = pytest.mark.slow


def test_epoch_predictions_observe_without_changing_training() -> None:
    digits = data.load_digits28()
    watched, plain = keras_models.build_mlp(seed=0), keras_models.build_mlp(seed=0)
    watch = keras_models.EpochPredictions(digits.x_test)
    keras_models.train(watched, digits, epochs=2, seed=0, callbacks=[watch])
    keras_models.train(plain, digits, epochs=2, seed=0)
    assert watch.predictions.shape == (2, len(digits.y_test)), watch.predictions.shape
    final = np.argmax(watched.predict(digits.x_test, verbose=0), axis=1)
    assert np.array_equal(watch.predictions[-1], final), "the last row is not the trained model's prediction"
    same = all(np.array_equal(a, b) for a, b in zip(watched.get_weights(), plain.get_weights(), strict=True))
    assert same, "training with the callback gave different weights"
