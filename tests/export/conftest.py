"""Shared fixtures: sklearn digits, one tiny CNN trained once per session, and its int8 conversion."""


import pytest
from small_cnn import train_small_cnn

from tfcompress._keras import keras


@pytest.fixture(scope="session")
def trained_cnn(digits):
    """``train_small_cnn`` after ``keras.utils.set_random_seed(1)``; ~0.9 test accuracy."""
    keras.utils.set_random_seed(1)  # Python, NumPy and TF: the same model whatever ran before
    return train_small_cnn(digits)


@pytest.fixture(scope="session")
def converted(trained_cnn, digits):
    """``converted(fmt)``: the trained CNN in a TFLite format, converted once per session."""
    from tfcompress.export import convert

    cache = {}

    def get(fmt):
        if fmt not in cache:
            cache[fmt] = convert(trained_cnn, fmt, representative_data=digits["x_train"])
        return cache[fmt]

    return get


@pytest.fixture(scope="session")
def int8_bytes(converted):
    return converted("int8")


@pytest.fixture
def lambda_model():
    """A builder: Dense → Lambda(fn) → Dense, a model holding one op chosen by the test."""

    def build(fn, width=6, classes=3):
        inp = keras.Input((width,), name="x")
        h = keras.layers.Dense(width, name="d0")(inp)
        h = keras.layers.Lambda(fn, name="op")(h)
        return keras.Model(inp, keras.layers.Dense(classes, name="logits")(h))

    return build
