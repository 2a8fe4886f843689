import numpy as np
import pytest

from tfcompress._keras import keras, tf
from tfcompress.errors import ConfigError, ConversionError, ShapeError
from tfcompress.export import FORMATS, convert, evaluate_tflite, inspect_tflite, model_size, predict_tflite

EXPECTED_INPUT_DTYPE = {"int8": "int8", "int8_float_io": "float32", "int16x8": "int16", "float16": "float32",
                        "dynamic": "float32", "float": "float32"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips(fmt, converted, digits):
    data = converted(fmt)
    info = inspect_tflite(data)
    assert info["inputs"][0]["dtype"] == EXPECTED_INPUT_DTYPE[fmt]
    assert info["inputs"][0]["shape"] == [-1, 8, 8, 1]
    out = predict_tflite(data, digits["x_test"][:7])
    assert out.shape == (7, 10) and out.dtype == np.float32
    assert info["is_fully_integer"] == (fmt in ("int8", "int8_float_io", "int16x8"))
    if fmt == "float16":
        assert info["tensor_dtypes"].get("float16", 0) > 0


def test_int8_accuracy_within_two_points_of_keras(trained_cnn, int8_bytes, digits):
    keras_acc = trained_cnn.evaluate(digits["x_test"], digits["y_test"], verbose=0)[1]
    tflite_acc = evaluate_tflite(int8_bytes, digits["x_test"], digits["y_test"])
    assert keras_acc > 0.8, "the fixture model did not train"
    assert abs(keras_acc - tflite_acc) <= 0.02


def test_int8_is_about_four_times_smaller_in_weights(converted, int8_bytes):
    float_info = inspect_tflite(converted("float"))
    int8_info = inspect_tflite(int8_bytes)
    assert int8_info["constant_bytes"] < 0.45 * float_info["constant_bytes"]


def test_int8_without_representative_data_is_refused(trained_cnn):
    with pytest.raises(ConfigError, match="representative_data"):
        convert(trained_cnn, "int8")
    with pytest.raises(ConfigError, match="representative_data"):
        convert(trained_cnn, "int16x8")


def test_int16x8_has_int16_activations_and_int8_weights(trained_cnn, converted, digits):
    info = inspect_tflite(converted("int16x8"))
    assert info["outputs"][0]["dtype"] == "int16" and info["inputs"][0]["zero_point"] == 0  # symmetric int16
    assert info["tensor_dtypes"]["int16"] >= 6 and info["tensor_dtypes"]["int8"] >= 4  # activations, kernels
    assert "float32" not in info["tensor_dtypes"]
    keras_acc = trained_cnn.evaluate(digits["x_test"], digits["y_test"], verbose=0)[1]
    assert abs(evaluate_tflite(converted("int16x8"), digits["x_test"], digits["y_test"]) - keras_acc) <= 0.02


def test_unknown_format_and_wrong_data_shape(trained_cnn):
    with pytest.raises(ConfigError, match="unknown TFLite format"):
        convert(trained_cnn, "int4")
    with pytest.raises(ShapeError, match=r"\(20, 64\)"):
        convert(trained_cnn, "int8", representative_data=np.zeros((20, 64), "float32"))
    with pytest.raises(ConfigError, match="NaN"):
        convert(trained_cnn, "int8", representative_data=np.full((4, 8, 8, 1), np.nan, "float32"))


def test_op_without_tflite_kernel_is_named(lambda_model):
    # tf.math.erf has no TFLite builtin kernel at all (measured): the converter fails and we name the op.
    model = lambda_model(tf.math.erf)
    with pytest.raises(ConversionError, match="tf.Erf"):
        convert(model, "int8", representative_data=np.random.rand(20, 6).astype("float32"))


def test_not_a_keras_model_is_refused():
    with pytest.raises(ConfigError, match="tf_keras model"):
        convert(object(), "float")


def test_qat_model_converts_fully_integer_without_data(digits):
    import tensorflow_model_optimization as tfmot

    from tfcompress.models import build_cnn

    base = build_cnn((8, 8, 1), 10, filters=(4, 8), dense_units=0, batch_norm=False)
    qat = tfmot.quantization.keras.quantize_model(base)
    # no training needed for the test: the fake-quant ranges of an untrained QAT model are valid ranges
    info = inspect_tflite(convert(qat, "int8"))
    assert info["is_fully_integer"]
    assert info["inputs"][0]["dtype"] == "int8"


def test_pruning_wrappers_are_stripped_and_sparsity_measured(digits):
    import tensorflow_model_optimization as tfmot

    from tfcompress.models import build_cnn

    base = build_cnn((8, 8, 1), 10, filters=(8, 16), dense_units=16)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(
        base, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.75, 0, frequency=1))
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(digits["x_train"][:64], digits["y_train"][:64], epochs=1, batch_size=64, verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    data = convert(pruned, "int8", representative_data=digits["x_train"])
    size = model_size(data)
    assert size["sparsity"] == pytest.approx(0.75, abs=0.03)
    assert size["gzip_bytes"] < 0.7 * size["tflite_bytes"]
    assert "PruneLowMagnitude" not in str(inspect_tflite(data)["ops"])


def test_keras_path_fallback_gives_the_same_file(trained_cnn, digits, monkeypatch):
    """The frozen concrete function is converted first; when it fails, from_keras_model gives the same model."""
    fast = convert(trained_cnn, "int8", representative_data=digits["x_train"][:50])

    def refuse(funcs, trackable_obj=None):
        raise RuntimeError("simulated from_concrete_functions failure")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_concrete_functions", refuse)
    slow = convert(trained_cnn, "int8", representative_data=digits["x_train"][:50])
    assert inspect_tflite(slow)["is_fully_integer"]
    np.testing.assert_array_equal(predict_tflite(slow, digits["x_test"][:20]),
                                  predict_tflite(fast, digits["x_test"][:20]))


def test_representative_data_from_a_tf_data_dataset(trained_cnn, digits):
    dataset = tf.data.Dataset.from_tensor_slices((digits["x_train"], digits["y_train"])).batch(32)
    data = convert(trained_cnn, "int8", representative_data=dataset, num_samples=100)
    acc = evaluate_tflite(data, digits["x_test"], digits["y_test"])
    assert acc >= trained_cnn.evaluate(digits["x_test"], digits["y_test"], verbose=0)[1] - 0.03
