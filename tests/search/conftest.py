import numpy as np
import pytest

import tfcompress
from tfcompress import keras
from tfcompress.train import Trainer


def small_tabular(n=240, features=8, classes=3, seed=0):
    """A tiny, easy vector classification task."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(classes, features))
    y = rng.integers(0, classes, size=n).astype("int32")
    x = (centers[y] + rng.normal(size=(n, features))).astype("float32")
    cut = int(n * 0.7)
    return {"x_train": x[:cut], "y_train": y[:cut], "x_val": x[cut:], "y_val": y[cut:]}


@pytest.fixture(scope="module")
def tab_data():
    return small_tabular()


@pytest.fixture(scope="module")
def tab_teacher(tab_data):
    keras.utils.set_random_seed(1)
    teacher = tfcompress.build_mlp((8,), 3, units=(32,), name="teacher")
    Trainer(tab_data, batch_size=32, learning_rate=1e-2).fit(teacher, 4, validation=False)
    return teacher
