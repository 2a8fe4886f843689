import numpy as np
import pytest

from tfcompress._keras import tf
from tfcompress.errors import ConversionError, ShapeError
from tfcompress.export import convert, verify_tflite


def test_verify_compares_with_keras(trained_cnn, int8_bytes, digits):
    x, y = digits["x_test"], digits["y_test"]
    result = verify_tflite(int8_bytes, x, y, keras_model=trained_cnn, require_integer=True)
    assert result["is_fully_integer"] and result["num_samples"] == len(x)
    assert result["keras_accuracy"] == pytest.approx(trained_cnn.evaluate(x, y, verbose=0)[1], abs=1e-6)
    assert abs(result["accuracy_drop"]) <= 0.02
    assert 0 < result["max_abs_diff"] < 0.2 * result["output_range"]
    assert result["top1_agreement"] >= 0.95


def test_verify_without_data_only_checks_loading(int8_bytes):
    result = verify_tflite(int8_bytes)
    assert result == {"is_fully_integer": True, "float_ops": [], "num_samples": 0}


def test_float_fallback_is_reported_with_the_op_name(lambda_model):
    # Measured: tf.math.sin has a float TFLite kernel but no int8 one; the converter keeps it in float between
    # DEQUANTIZE/QUANTIZE even with TFLITE_BUILTINS_INT8 only, so verification must catch it.
    model = lambda_model(tf.math.sin)
    data = convert(model, "int8", representative_data=np.random.RandomState(0).rand(40, 6).astype("float32"))
    assert verify_tflite(data)["is_fully_integer"] is False
    with pytest.raises(ConversionError, match=r"not fully integer.*SIN"):
        verify_tflite(data, require_integer=True)


def test_float_model_is_not_fully_integer(converted):
    result = verify_tflite(converted("float"), require_integer=False)
    assert not result["is_fully_integer"] and any("CONV_2D" in op for op in result["float_ops"])


def test_mismatched_lengths(int8_bytes, digits):
    with pytest.raises(ShapeError):
        verify_tflite(int8_bytes, digits["x_test"][:5], digits["y_test"][:4])


def test_int16x8_verifies_fully_integer(trained_cnn, converted, digits):
    result = verify_tflite(converted("int16x8"), x=digits["x_test"], y=digits["y_test"], keras_model=trained_cnn,
                           require_integer=True)
    assert result["is_fully_integer"] and result["float_ops"] == []
    assert result["top1_agreement"] >= 0.97 and abs(result["accuracy_drop"]) <= 0.02
