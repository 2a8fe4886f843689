"""Shared fixtures: sklearn digits, one tiny CNN trained once per session, and its int8 conversion."""


import pytest

from tfcompress._keras import keras, tf


@pytest.fixture(scope="session")
def trained_cnn(digits):
    """A ~1.8k-parameter CNN trained 15 epochs on digits (about 2 s); ~0.9 test accuracy."""
    from tfcompress.models import build_cnn

    tf.random.set_seed(1)
    model = build_cnn((8, 8, 1), 10, filters=(8, 16), dense_units=16)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(digits["x_train"], digits["y_train"], epochs=15, batch_size=32, verbose=0)
    return model


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
