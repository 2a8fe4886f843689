import numpy as np
import pytest

from tfcompress.errors import ConversionError, DataError, ShapeError
from tfcompress.export import evaluate_tflite, inspect_tflite, measure_latency, model_size, predict_tflite


def test_predict_dequantizes_close_to_keras(trained_cnn, int8_bytes, digits):
    x = digits["x_test"][:50]
    out = predict_tflite(int8_bytes, x)
    ref = trained_cnn.predict(x, verbose=0)
    assert out.dtype == np.float32 and out.shape == ref.shape
    # one output quantization step is (max-min)/255 of the logits' range; allow a few steps of error
    scale = inspect_tflite(int8_bytes)["outputs"][0]["scale"]
    assert np.abs(out - ref).max() < 12 * scale
    assert np.mean(out.argmax(1) == ref.argmax(1)) >= 0.95


def test_predict_reads_a_path_and_batches_consistently(int8_bytes, digits, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(int8_bytes)
    x = digits["x_test"][:37]
    np.testing.assert_array_equal(predict_tflite(str(path), x, batch_size=5), predict_tflite(int8_bytes, x))


def test_evaluate_accepts_one_hot_labels(int8_bytes, digits):
    x, y = digits["x_test"], digits["y_test"]
    one_hot = np.eye(10, dtype="float32")[y]
    acc = evaluate_tflite(int8_bytes, x, y)
    assert 0.8 < acc <= 1.0
    assert evaluate_tflite(int8_bytes, x, one_hot) == acc


def test_wrong_input_shape_and_bad_labels(int8_bytes, digits):
    with pytest.raises(ShapeError, match="expects"):
        predict_tflite(int8_bytes, np.zeros((3, 64), "float32"))
    with pytest.raises(ShapeError, match="labels"):
        evaluate_tflite(int8_bytes, digits["x_test"][:10], digits["y_test"][:9])
    with pytest.raises(DataError):
        evaluate_tflite(int8_bytes, digits["x_test"][:3], np.array([0.5, 1, 2]))


def test_corrupt_and_truncated_files_raise_conversion_error(int8_bytes, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(ConversionError, match="not a TFLite model"):
        predict_tflite(str(junk), np.zeros((1, 8, 8, 1), "float32"))
    truncated = tmp_path / "cut.tflite"
    truncated.write_bytes(int8_bytes[: len(int8_bytes) // 3])
    with pytest.raises(ConversionError):
        inspect_tflite(str(truncated))
    with pytest.raises(ConversionError, match="cannot read"):
        measure_latency(str(tmp_path / "missing.tflite"))


def test_latency_report(int8_bytes):
    lat = measure_latency(int8_bytes, runs=30, warmup=3)
    assert lat["runs"] == 30 and lat["num_threads"] == 1
    assert 0 < lat["median_us"] <= lat["p90_us"]
    assert "XNNPACK" in lat["delegate"]
    assert "proxy" in lat["note"] and lat["host"]["cpu_count"] >= 1
    plain = measure_latency(int8_bytes, runs=5, warmup=0, use_xnnpack=False)
    assert "XNNPACK" not in plain["delegate"] and plain["median_us"] > 0


def test_inspect_reports_ops_quantization_and_sizes(int8_bytes):
    info = inspect_tflite(int8_bytes)
    assert info["ops"]["CONV_2D"] == 2 and info["ops"]["FULLY_CONNECTED"] == 2
    assert info["inputs"][0]["dtype"] == "int8" and info["inputs"][0]["scale"] > 0
    assert -128 <= info["inputs"][0]["zero_point"] <= 127
    assert info["file_bytes"] == len(int8_bytes) and info["gzip_bytes"] < info["file_bytes"]
    assert info["is_fully_integer"] and info["float_ops"] == []
    assert "float32" not in info["tensor_dtypes"]


def test_model_size_of_keras_model_and_of_bytes(trained_cnn, int8_bytes):
    from_keras = model_size(trained_cnn)
    assert from_keras["params"] == trained_cnn.count_params()
    assert from_keras["format"] == "dynamic" and from_keras["tflite_bytes"] > 0
    assert from_keras["sparsity"] < 0.05
    from_bytes = model_size(int8_bytes)
    assert from_bytes["tflite_bytes"] == len(int8_bytes)
    # constants = weights (BatchNorm folded into the convs) + a few shape vectors
    assert 0.8 * trained_cnn.count_params() < from_bytes["params"] < 1.2 * trained_cnn.count_params()


def test_a_file_xnnpack_refuses_runs_on_the_builtin_kernels():
    # A ReLU layer dead on every calibration row gets the converter's smallest output scale, and XNNPACK refuses
    # the next fully connected layer when it prepares it (input * weight scale / output scale >= 256).
    from tfcompress._compat import interpreter_ops
    from tfcompress._keras import keras
    from tfcompress.export import convert
    from tfcompress.export.runtime import make_interpreter

    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    hidden = keras.layers.Dense(32, activation="relu", bias_initializer=keras.initializers.Constant(-100.0))(inp)
    model = keras.Model(inp, keras.layers.Dense(10)(hidden))
    x = np.random.default_rng(0).uniform(0, 1, (50, 64)).astype("float32")
    flat = convert(model, "int8", representative_data=x)
    interpreter = make_interpreter(flat)  # refused by XNNPACK, loaded without it
    assert not any(op["op_name"] == "DELEGATE" for op in interpreter_ops(interpreter))
    step = inspect_tflite(flat)["outputs"][0]["scale"]
    np.testing.assert_allclose(predict_tflite(flat, x[:5]), model.predict(x[:5], verbose=0), atol=3 * step)
    assert measure_latency(flat, runs=3, warmup=1)["delegate"].startswith("none")
