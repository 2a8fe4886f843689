"""to_keras3: tfcompress's tf_keras students come back as Keras 3 models that compute the same thing."""

import numpy as np
import pytest

from tfcompress import build_student, to_keras3, to_tf_keras
from tfcompress._keras import keras
from tfcompress.errors import ModelError

keras3 = pytest.importorskip("keras")


def _sample(shape, n=3, seed=1):
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype("float32")


@pytest.mark.parametrize("family", ["cnn", "mlp", "mobilenet", "resnet"])
def test_every_student_family_comes_back_equal_in_keras3(family):
    shape = (16, 16, 3) if family in ("mobilenet", "resnet") else (8, 8, 1)
    student = build_student(family, input_shape=shape, num_classes=5)
    x = _sample(shape)
    k3 = to_keras3(student, sample_inputs=x)
    assert isinstance(k3, keras3.Model) and not isinstance(k3, keras.Model)
    np.testing.assert_allclose(np.asarray(k3(x)), student(x).numpy(), atol=1e-5, rtol=1e-5)
    assert k3.count_params() == student.count_params()


def test_round_trip_through_to_tf_keras_keeps_the_outputs(tmp_path):
    student = build_student("mobilenet", input_shape=(16, 16, 3), num_classes=4)
    x = _sample((16, 16, 3))
    k3 = to_keras3(student)
    path = tmp_path / "student.keras"
    k3.save(path)
    back = to_tf_keras(keras3.models.load_model(path))
    np.testing.assert_allclose(back(x).numpy(), student(x).numpy(), atol=1e-5, rtol=1e-5)


def test_a_lambda_layer_is_named_in_the_error():
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0, name="double")(keras.layers.Dense(3)(inputs))
    with pytest.raises(ModelError, match="'double'.*Lambda"):
        to_keras3(keras.Model(inputs, outputs))


def test_a_keras3_model_is_refused_with_a_clear_error():
    model = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2)])
    with pytest.raises(ModelError, match="expects a tf_keras model"):
        to_keras3(model)
