import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tfcompress  # noqa: E402,F401  (selects tf_keras before anything imports TensorFlow)
from tfcompress import keras  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    return tfcompress.load_digits_data()


def _train(model, data, epochs):
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(data["x_train"], data["y_train"], epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="session")
def digits_teacher(digits):
    """A small CNN trained on digits for a few epochs (about 95% test accuracy)."""
    keras.utils.set_random_seed(1)
    return _train(tfcompress.build_cnn((8, 8, 1), 10, filters=(16, 32), dense_units=32, name="teacher"), digits, 8)


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32") + 2 * (x[:, 0, 0, 0] > 0).astype("int32")
    return {"x_train": x[:64], "y_train": y[:64], "x_val": x[64:], "y_val": y[64:]}
