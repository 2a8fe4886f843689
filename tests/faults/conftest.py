"""Fixtures of the fault tests: a tiny teacher and data set on disk."""

import numpy as np
import pytest
from fault_helpers import INPUT_SHAPE, NUM_CLASSES, make_data

from tfcompress import build_cnn
from tfcompress._keras import keras


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """A folder with ``teacher.keras`` (trained 3 epochs) and ``data.npz``; returns its path."""
    root = tmp_path_factory.mktemp("faults")
    data = make_data()
    np.savez(root / "data.npz", **data)
    keras.utils.set_random_seed(0)
    teacher = build_cnn(INPUT_SHAPE, NUM_CLASSES, filters=(4, 8), dense_units=8, name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], epochs=3, verbose=0)
    teacher.save(root / "teacher.keras")
    return root


