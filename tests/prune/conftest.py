"""Shared fixtures of the pruning tests: a seed, tiny random data, a tiny CNN and a Trainer."""

import numpy as np
import pytest

from tfcompress.models import build_cnn
from tfcompress.train import Trainer


def _data(n_train=256, n_val=64, shape=(8, 8, 1), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes,) + shape).astype("float32")
    y_train = rng.integers(0, classes, n_train).astype("int32")
    y_val = rng.integers(0, classes, n_val).astype("int32")
    noise = lambda n: rng.normal(scale=0.8, size=(n,) + shape).astype("float32")  # noqa: E731
    return {"x_train": centres[y_train] + noise(n_train), "y_train": y_train,
            "x_val": centres[y_val] + noise(n_val), "y_val": y_val}


@pytest.fixture(scope="session")
def data():
    return _data()


@pytest.fixture(scope="session")
def trainer(data):
    return Trainer(data, batch_size=32)


@pytest.fixture
def cnn():
    """conv0 (first conv, 8 filters), conv1 (16), gap, dense (16), logits (4)."""
    return build_cnn((8, 8, 1), 4, filters=(8, 16), dense_units=16, pooling="gap")

