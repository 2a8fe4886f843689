"""flatten_model: nested functional/sequential sub-models are inlined with the same weights and outputs."""

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.errors import ModelError
from tfcompress.quantize import flatten_model, has_nested_models


def _nested_model():
    """An outer model using a functional sub-model twice (shared) and a sequential one, with a name clash."""
    x_in = keras.Input((6,), name="inner_in")
    inner = keras.Model(x_in, keras.layers.Dense(6, activation="relu", name="dense")(x_in), name="inner")
    seq = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="dense"), keras.layers.ReLU(name="act")],
                           name="seq")
    x = keras.Input((6,), name="x")
    h = inner(inner(x))  # the same sub-model (and its weights) called twice
    a = seq(h)
    b = keras.layers.Dense(5, name="dense")(h)
    out = keras.layers.Dense(3, name="out")(keras.layers.Concatenate(name="cat")([a, b]))
    return keras.Model(x, out, name="outer")


def test_flatten_inlines_submodels_with_same_outputs_and_weights():
    model = _nested_model()
    assert has_nested_models(model)
    before = [w.copy() for w in model.get_weights()]
    flat = flatten_model(model)
    assert not has_nested_models(flat)
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers)
    names = [layer.name for layer in flat.layers]
    assert len(names) == len(set(names))
    assert {"inner_dense", "seq_dense", "dense"} <= set(names)  # clashing names get the sub-model's prefix
    x = np.random.default_rng(0).normal(size=(7, 6)).astype("float32")
    np.testing.assert_allclose(flat(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert flat.count_params() == model.count_params()  # the shared sub-model stays shared, not duplicated
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)  # the input model is untouched


def test_flatten_copies_layers_so_training_the_copy_leaves_the_original():
    model = _nested_model()
    flat = flatten_model(model)
    flat.layers[-1].kernel.assign(np.zeros(flat.layers[-1].kernel.shape, "float32"))
    assert np.any(model.get_layer("out").get_weights()[0] != 0)


def test_flatten_plain_model_is_a_copy():
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2, name="d")(x))
    flat = flatten_model(model)
    assert flat is not model and flat.get_layer("d") is not model.get_layer("d")
    np.testing.assert_array_equal(flat.get_layer("d").get_weights()[0], model.get_layer("d").get_weights()[0])


def test_flatten_subclassed_model_raises_model_error():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.zeros((1, 3), "float32"))
    with pytest.raises(ModelError, match="subclassed"):
        flatten_model(sub)
    x = keras.Input((3,))
    with pytest.raises(ModelError, match="subclassed"):
        flatten_model(keras.Model(x, sub(x)))
