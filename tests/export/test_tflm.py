"""TensorFlow Lite Micro check: the measured arena is minimal, outputs agree with LiteRT, missing ops are named."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tfcompress._keras import keras, tf
from tfcompress.errors import ConfigError, ConversionError
from tfcompress.export import check_tflm, export_tflite
from tfcompress.console import fds_to_file
from tfcompress.export.tflm import ALIGNMENT, format_tflm, with_margin

# Written independently of tfcompress's prober: exit 0 when SIZE allocates and invokes, 1 when TFLM refuses;
# a crash (TFLM segfaults on arenas far too small) is a negative exit code.
_RUN = r"""
import sys, numpy as np
from tflite_micro import runtime
try:
    it = runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read(), arena_size=int(sys.argv[2]))
    d = it.get_input_details(0)
    it.set_input(np.zeros(d["shape"], d["dtype"]), 0)
    it.invoke()
except RuntimeError:
    sys.exit(1)
"""


def _runs(path, size):
    return subprocess.run([sys.executable, "-c", _RUN, path, str(size)], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def checked(int8_bytes, digits):
    return check_tflm(int8_bytes, x=digits["x_test"])


def test_measured_arena_runs_and_85_percent_does_not(checked, int8_bytes, tmp_path):
    path = str(tmp_path / "m.tflite")
    with open(path, "wb") as f:
        f.write(int8_bytes)
    arena = checked["arena_bytes"]
    assert arena % ALIGNMENT == 0 and checked["arena_fails_at"] == arena - ALIGNMENT
    assert _runs(path, arena)
    assert not _runs(path, arena - ALIGNMENT)  # minimal at TFLM's 16-byte granularity
    assert not _runs(path, int(arena * 0.85))
    assert 1000 < arena < 100_000


def test_outputs_agree_with_litert_on_the_trained_cnn(checked, digits):
    assert checked["samples"] == len(digits["x_test"]) == 450
    assert checked["argmax_agreement"] >= 0.99
    assert checked["diff_unit"] == "lsb" and checked["output_dtype"] == "int8"
    assert 0 <= checked["max_abs_diff_lsb"] <= 8  # reference kernels against XNNPACK: a few LSB at most
    assert checked["ops"] == ["CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "RESHAPE"]
    assert checked["runtime"].startswith("tflite-micro 0.dev")
    assert json.loads(json.dumps(checked)) == checked
    assert "arena" in format_tflm(checked) and "\n" not in format_tflm(checked)


def test_c_prints_never_reach_the_terminal(int8_bytes, digits, checked, capfd):
    from tflite_micro import runtime

    capfd.readouterr()
    check_tflm(int8_bytes, x=digits["x_test"][:5])  # its probes fail on purpose, and TFLM prints then
    with fds_to_file() as captured:
        with pytest.raises(RuntimeError):  # too small by 16 bytes: TFLM raises (no crash) and prints why
            runtime.Interpreter.from_bytes(int8_bytes, arena_size=checked["arena_fails_at"])
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert captured[0].strip()  # TFLM's own words were captured, not lost


def test_unsupported_op_is_named_and_nothing_is_written(lambda_model, tmp_path):
    model = lambda_model(tf.nn.gelu)  # LiteRT has an int8 GELU kernel, TFLite Micro has none
    data = np.random.default_rng(0).random((40, 6)).astype("float32")
    path = tmp_path / "out" / "m.tflite"
    with pytest.raises(ConversionError) as info:
        export_tflite(model, str(path), representative_data=data, latency_runs=0, c_array=True, tflm=True)
    message = str(info.value)
    assert "GELU" in message and "TensorFlow Lite Micro" in message and "\n" not in message
    assert os.listdir(tmp_path) == []
    card = export_tflite(model, str(path), representative_data=data, latency_runs=0)  # LiteRT alone accepts it
    assert "tflm" not in card and card["is_fully_integer"]


def test_card_and_c_header_carry_the_measured_arena(trained_cnn, digits, tmp_path):
    path = str(tmp_path / "m.tflite")
    card = export_tflite(trained_cnn, path, representative_data=digits["x_train"],
                         eval_data=(digits["x_test"][:60], digits["y_test"][:60]), latency_runs=0, c_array=True,
                         tflm=True, tflm_margin=0.2)
    tflm = card["tflm"]
    assert {"arena_bytes", "arena_fails_at", "arena_with_margin_bytes", "margin", "ops", "argmax_agreement",
            "max_abs_diff_lsb", "max_abs_diff", "diff_unit", "samples", "runtime", "seconds"} <= set(tflm)
    assert tflm["samples"] == 60 and tflm["margin"] == 0.2
    with open(path[:-len(".tflite")] + ".json") as f:
        assert json.load(f)["tflm"] == tflm
    with open(path[:-len(".tflite")] + ".h") as f:
        header = f.read()
    constant = int(re.search(r"#define G_MODEL_ARENA_BYTES (\d+)", header).group(1))
    assert constant == tflm["arena_with_margin_bytes"] == with_margin(tflm["arena_bytes"], 0.2)
    assert tflm["arena_bytes"] * 1.2 <= constant < tflm["arena_bytes"] * 1.2 + ALIGNMENT and constant % 16 == 0
    assert "measured" in header and "20% margin" in header and "ESTIMATE" not in header


def test_without_eval_data_the_representative_inputs_are_run(trained_cnn, digits, tmp_path):
    card = export_tflite(trained_cnn, str(tmp_path / "m.tflite"), representative_data=digits["x_train"],
                         num_samples=40, latency_runs=0, tflm=True)
    assert card["tflm"]["samples"] == 40 and card["tflm"]["argmax_agreement"] >= 0.95


def test_int16x8_runs_in_tflm(converted, digits):
    result = check_tflm(converted("int16x8"), x=digits["x_test"][:200])
    assert result["output_dtype"] == "int16" and result["diff_unit"] == "lsb"
    assert result["argmax_agreement"] >= 0.99 and result["max_abs_diff_lsb"] <= 16


def test_float_outputs_are_compared_in_float_units(converted, digits):
    result = check_tflm(converted("float"), x=digits["x_test"][:20])
    assert result["diff_unit"] == "float" and result["max_abs_diff_lsb"] is None
    assert result["max_abs_diff"] < 1e-3 and result["argmax_agreement"] == 1.0


def test_bad_options(int8_bytes, trained_cnn, tmp_path):
    with pytest.raises(ConfigError, match="margin"):
        check_tflm(int8_bytes, margin=-0.1)
    with pytest.raises(ConfigError, match="tflm"):
        export_tflite(trained_cnn, str(tmp_path / "m.tflite"), format="float", tflm="yes")
    assert os.listdir(tmp_path) == []


def test_tflm_abort_is_a_one_line_error_not_a_crash():
    from tfcompress.export import convert

    # a softmax output over inputs scaled by 1e-7: a degenerate int8 scale on which TFLM's SOFTMAX aborts
    inputs = keras.Input((6,))
    hidden = keras.layers.Lambda(lambda t: t * 1e-7)(keras.layers.Dense(6)(inputs))
    model = keras.Model(inputs, keras.layers.Softmax()(hidden))
    data = convert(model, "int8", representative_data=np.random.default_rng(0).random((30, 6)).astype("float32"))
    with pytest.raises(ConversionError, match="SIGABRT") as info:
        check_tflm(data)
    assert "\n" not in str(info.value)


def test_crashing_probes_are_survived(int8_bytes, checked):
    from tfcompress.export.tflm import measure_arena

    result = measure_arena(int8_bytes, start=64)  # far too small: TFLM segfaults there, in the child
    assert result["probe_crashes"] >= 1 and result["arena_bytes"] == checked["arena_bytes"]


def test_a_format_tflm_cannot_run_is_refused_in_one_line(converted):
    with pytest.raises(ConversionError, match="Hybrid models are not supported") as info:
        check_tflm(converted("dynamic"))  # int8 weights with float activations: no TFLM kernel takes them
    assert "\n" not in str(info.value) and ".." not in str(info.value)


def test_predict_tflm_scores_like_litert(trained_cnn, digits):
    from tfcompress.export import convert, predict_tflite, predict_tflm

    flat = convert(trained_cnn, "int8", representative_data=digits["x_train"])
    x, y = digits["x_test"][:64], digits["y_test"][:64]
    tflm, litert = predict_tflm(flat, x), predict_tflite(flat, x)
    assert tflm.shape == litert.shape == (64, 10)
    assert np.mean(tflm.argmax(1) == litert.argmax(1)) >= 0.95
    assert abs(np.mean(tflm.argmax(1) == y) - np.mean(litert.argmax(1) == y)) <= 0.05


def test_with_labels_the_check_scores_both_runtimes(int8_bytes, digits):
    from tfcompress.export import predict_tflite, predict_tflm

    x, y = digits["x_test"][:64], digits["y_test"][:64]
    result = check_tflm(int8_bytes, x, y=y)
    assert result["tflm_accuracy"] == float(np.mean(predict_tflm(int8_bytes, x).argmax(1) == y))
    assert result["litert_accuracy"] == float(np.mean(predict_tflite(int8_bytes, x).argmax(1) == y))
    assert "tflm_accuracy" not in check_tflm(int8_bytes, x)
