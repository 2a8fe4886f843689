"""QAT through TFMOT: the unquantizable-layer check, skip_layers, nested models, the stage, int8 export."""

import os

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.quantize import (PostTrainingQuantization, QuantizeAwareTraining, count_quantized_layers,
                                 kernels, quantize_aware_model, unquantizable_layers)

import tensorflow_model_optimization as tfmot  # noqa: E402


def _model_with_layernorm():
    x = keras.Input((8,))
    h = keras.layers.Dense(6, name="d1")(x)
    h = keras.layers.LayerNormalization(name="ln")(h)
    return keras.Model(x, keras.layers.Dense(3, name="d2")(h))


def test_unquantizable_layer_found_before_training_and_named():
    model = _model_with_layernorm()
    assert unquantizable_layers(model) == [("ln", "LayerNormalization")]
    with pytest.raises(ModelError, match=r"ln \(LayerNormalization\).*skip_layers=\['ln'\]"):
        quantize_aware_model(model)


def test_skip_layers_leaves_layer_in_float():
    qat = quantize_aware_model(_model_with_layernorm(), skip_layers=["ln"])
    assert count_quantized_layers(qat) == 2
    assert type(qat.get_layer("ln")).__name__ == "LayerNormalization"
    assert isinstance(qat.get_layer("quant_d1"), tfmot.quantization.keras.QuantizeWrapper)


def test_unknown_skip_layer_name_lists_valid_names():
    with pytest.raises(ConfigError, match="'nope'.*Valid layer names.*'ln'"):
        quantize_aware_model(_model_with_layernorm(), skip_layers=["nope"])


def test_lambda_layer_is_reported():
    x = keras.Input((4,))
    h = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    with pytest.raises(ModelError, match=r"double \(Lambda\).*custom layer"):
        quantize_aware_model(keras.Model(x, keras.layers.Dense(2)(h)))


def test_nested_model_is_flattened_where_tfmot_refuses():
    x_in = keras.Input((8,))
    inner = keras.Model(x_in, keras.layers.Dense(8, activation="relu", name="hidden")(x_in), name="inner")
    x = keras.Input((8,))
    outer = keras.Model(x, keras.layers.Dense(3, name="head")(inner(x)))
    with pytest.raises(ValueError, match="inside another keras Model"):
        tfmot.quantization.keras.quantize_model(outer)
    qat = quantize_aware_model(outer)
    assert count_quantized_layers(qat) == 2
    np.testing.assert_array_equal(kernels(qat)["quant_hidden/kernel"], inner.get_layer("hidden").kernel.numpy())


def test_qat_stage_fine_tunes_keeps_accuracy_and_exports_int8(trained_cnn, trainer, digits, tmp_path):
    float_acc = trainer.evaluate(trained_cnn)
    before = [w.copy() for w in trained_cnn.get_weights()]
    stage = QuantizeAwareTraining(epochs=1, ptq_fallback=False)  # the QAT model itself
    qat = stage.apply(trained_cnn, trainer)
    assert isinstance(qat, keras.Model) and count_quantized_layers(qat) >= 4
    report = stage.report
    assert report["method"] == "qat" and report["export"] == "int8"
    assert report["val_accuracy"] >= float_acc - 0.1, (report, float_acc)
    for old, new in zip(before, trained_cnn.get_weights()):
        np.testing.assert_array_equal(old, new)  # the input model is not trained in place

    # The QAT model reloads from .h5 (tf_keras' .keras format fails on TFMOT's QuantizeLayer variables).
    path = os.path.join(tmp_path, "qat.h5")
    qat.save(path)
    with tfmot.quantization.keras.quantize_scope():
        loaded = keras.models.load_model(path, compile=False)
    x = digits["x_val"][:16]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), qat.predict(x, verbose=0), atol=1e-5)

    from tfcompress.export import convert, evaluate_tflite, inspect_tflite

    tflite = convert(qat, "int8")  # no representative data needed: ranges were learned
    assert inspect_tflite(tflite)["is_fully_integer"]
    assert evaluate_tflite(tflite, digits["x_val"], digits["y_val"]) >= report["val_accuracy"] - 0.05


def test_ptq_stage_returns_model_unchanged(trained_cnn, trainer):
    stage = PostTrainingQuantization()
    assert stage.apply(trained_cnn, trainer) is trained_cnn
    assert stage.report == {"stage": "quantize", "method": "ptq", "export": "int8", "quantization": "post-training"}


def test_qat_stage_inside_distiller_trains_the_qat_student():
    from tfcompress.data import make_tabular_data
    from tfcompress.models import build_mlp
    from tfcompress.quantize import kernels
    from tfcompress.train import Trainer

    data = make_tabular_data(n_samples=500, n_features=10, n_classes=3)
    teacher = build_mlp((10,), 3, units=(32,), name="teacher")
    Trainer(data, batch_size=32, learning_rate=3e-3).fit(teacher, 3, validation=False)
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    student = build_mlp((10,), 3, units=(8,), name="student")
    trainer = Trainer(data, teacher=teacher, batch_size=32, learning_rate=3e-3)
    untrained = trainer.evaluate(student)
    stage = QuantizeAwareTraining(epochs=6, ptq_fallback=False)
    qat = stage.apply(student, trainer)
    assert count_quantized_layers(qat) == 2  # dense0 (ReLU folded in) and logits
    assert not np.allclose(kernels(qat)["quant_dense0/kernel"], student.get_layer("dense0").kernel.numpy())
    for old, new in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(old, new)  # the teacher is frozen
    assert stage.report["val_accuracy"] > untrained + 0.1  # measured: 0.32 untrained -> 0.51 (teacher 0.64)
