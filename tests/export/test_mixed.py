"""Mixed int8/int16 precision by sensitivity (tfcompress.export.mixed, litert-quantizer)."""

import json

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.export import convert, evaluate_tflite, export_tflite, inspect_tflite, verify_tflite
from tfcompress.export.mixed import layer_sensitivity, mixed_precision, quantizable_ops, with_signature
from tfcompress.export.runtime import make_interpreter, predict_tflite

pytest.importorskip("litert_quantizer")

CONV1 = "cnn/relu1/Relu;cnn/bn1/FusedBatchNormV3;cnn/conv1/Conv2D1;"


@pytest.fixture(scope="module")
def float_cnn(trained_cnn):
    return convert(trained_cnn, "float")


@pytest.fixture(scope="module")
def seeded_cnn(digits):
    """The CNN of ``trained_cnn``, trained here after ``keras.utils.set_random_seed``: the same weights whichever
    tests ran before (the session's ``trained_cnn`` depends on the order, and the outlier test on its weights)."""
    from small_cnn import train_small_cnn

    keras.utils.set_random_seed(1)
    return train_small_cnn(digits)


@pytest.fixture(scope="module")
def outlier_cnn(seeded_cnn):
    """The trained CNN with one dead outlier channel: channel 0 after bn1 scaled by 1000, its dense weights zero.

    The float model loses one of 16 channels (accuracy about as before), but the per-tensor int8 scale of conv1's
    output, the flattened tensor and the dense input is set by that channel, so the other fifteen channels round
    to zero in int8 and keep their precision in int16: the case mixed precision is for. conv0 and pool0 do not
    see it.
    """
    model = keras.models.clone_model(seeded_cnn)
    model.set_weights(seeded_cnn.get_weights())
    bn = model.get_layer("bn1")
    gamma, beta, mean, var = bn.get_weights()
    gamma[0], beta[0] = gamma[0] * 1000, abs(beta[0]) * 1000 + 1000
    bn.set_weights([gamma, beta, mean, var])
    dense = model.get_layer("dense")
    kernel, bias = dense.get_weights()
    kernel[0::16] = 0  # flatten is HWC with 16 channels: rows 0, 16, 32, ... read channel 0
    dense.set_weights([kernel, bias])
    return model


def _int4_tensors(data):
    """How many tensors of subgraph 0 the flatbuffer stores as INT4 (LiteRT's Python API shows them as int8)."""
    from tfcompress._compat import tflite_schema

    schema = tflite_schema()
    graph = schema.Model.GetRootAs(data, 0).Subgraphs(0)
    return sum(graph.Tensors(i).Type() == schema.TensorType.INT4 for i in range(graph.TensorsLength()))


def test_with_signature_adds_one_and_keeps_outputs(float_cnn, digits):
    assert make_interpreter(float_cnn).get_signature_list() == {}  # the converter's concrete function has none
    signed = with_signature(float_cnn)
    assert list(make_interpreter(signed).get_signature_list()) == ["serving_default"]
    x = digits["x_val"][:20]
    np.testing.assert_array_equal(predict_tflite(signed, x), predict_tflite(float_cnn, x))
    assert with_signature(signed) == signed


def test_sensitivity_table_has_one_row_per_quantizable_op(float_cnn, digits):
    ops = quantizable_ops(float_cnn)
    assert [op["op"] for op in ops] == ["CONV_2D", "MAX_POOL_2D", "CONV_2D", "RESHAPE", "FULLY_CONNECTED",
                                        "FULLY_CONNECTED"]
    table = layer_sensitivity(float_cnn, digits["x_train"], (digits["x_val"], digits["y_val"]), num_samples=100)
    assert sorted(row["scope"] for row in table) == sorted(op["scope"] for op in ops)
    assert all(0.0 <= row["accuracy"] <= 1.0 and row["tflite_bytes"] > 0 for row in table)
    assert all(row["applied"] for row in table)  # litert-quantizer has int8 and int16 kernels for all six
    drops = [row["drop"] for row in table]
    assert drops == sorted(drops, reverse=True)
    json.dumps(table)


def test_outlier_channel_is_fixed_by_promoting_the_ops_that_carry_it(outlier_cnn, digits):
    # a tolerance of a few validation images: the outlier costs int8 ~87 points, the other ops a sample or two,
    # which must not decide the test on another machine's rounding
    data, report = mixed_precision(outlier_cnn, digits["x_train"], (digits["x_val"], digits["y_val"]),
                                   tolerance=0.02, num_samples=200, tflm=True)
    formats = report["formats"]
    assert formats["int8"]["accuracy"] < 0.5 < 0.9 < formats["int16x8"]["accuracy"]  # int8 fails here
    assert report["within_tolerance"]
    assert formats["mixed"]["accuracy"] >= formats["int16x8"]["accuracy"] - 0.02
    # the sensitive ops are those whose tensors carry the outlier channel: conv1's output, flatten, dense's input
    carriers = {CONV1, "cnn/flatten/Reshape;", "cnn/dense/MatMul;cnn/dense/Relu;cnn/dense/BiasAdd;"}
    assert {row["scope"] for row in report["sensitivity"][:3]} == carriers
    assert all(row["drop"] > 0.3 for row in report["sensitivity"][:3])
    assert all(row["drop"] < 0.05 for row in report["sensitivity"][3:])
    assert set(report["promoted"]) == carriers and report["chosen"] == "mixed"
    precision = {p["scope"]: p["activation_bits"] for p in report["precision"]}
    assert {scope for scope, bits in precision.items() if bits == 16} == carriers
    # conv0's and pool0's tensors stay int8: fewer activation bytes than int16x8, more than int8
    assert formats["int8"]["activation_bytes"] < formats["mixed"]["activation_bytes"] \
        < formats["int16x8"]["activation_bytes"]
    # the file is larger than int8; where int8 meets int16 a QUANTIZE op requantizes (so here the file is even a
    # little larger than all-int16x8's: the weights are int8 in both)
    assert formats["int8"]["tflite_bytes"] < len(data) == formats["mixed"]["tflite_bytes"]
    info = inspect_tflite(data)
    assert info["ops"].get("QUANTIZE", 0) >= 1 and {"int8", "int16"} <= set(info["tensor_dtypes"])
    # the file verifies in LiteRT (fully integer) with the accuracy the report claims, and runs in TFLM
    assert verify_tflite(data, x=digits["x_val"], y=digits["y_val"], require_integer=True)["is_fully_integer"]
    assert evaluate_tflite(data, digits["x_val"], digits["y_val"]) == pytest.approx(formats["mixed"]["accuracy"])
    assert report["verification"]["tflm"]["runs"], report["verification"]["tflm"]
    json.dumps(report)


def test_int8_within_tolerance_is_kept_and_int4_weights_run_in_litert(float_cnn, digits):
    data, report = mixed_precision(float_cnn, digits["x_train"], (digits["x_val"], digits["y_val"]),
                                   tolerance=0.02, weight_bits=4, num_samples=100)
    formats = report["formats"]
    assert report["within_tolerance"]
    assert formats["mixed"]["accuracy"] >= formats["int16x8"]["accuracy"] - 0.02
    assert formats["int8"]["accuracy"] >= formats["int16x8"]["accuracy"] - 0.02  # nothing to promote here
    assert report["promoted"] == [] and report["chosen"] == "int8"
    # int4 weights (CONV_2D / FULLY_CONNECTED) within 2 points: they shrink the file and LiteRT runs it
    assert report["int4_weights"] and not report["promoted"]
    assert len(data) < formats["int8"]["tflite_bytes"]
    assert _int4_tensors(data) == len(report["int4_weights"])  # one weight tensor per op
    assert {p["scope"] for p in report["precision"] if p["weight_bits"] == 4} == set(report["int4_weights"])
    verify_tflite(data, x=digits["x_val"][:50], require_integer=True)


def test_mixed_precision_refuses_bad_options(float_cnn, digits):
    args = (float_cnn, digits["x_train"][:20], (digits["x_val"][:20], digits["y_val"][:20]))
    with pytest.raises(ConfigError, match="tolerance"):
        mixed_precision(*args, tolerance=-0.1)
    with pytest.raises(ConfigError, match="weight_bits"):
        mixed_precision(*args, weight_bits=2)
    with pytest.raises(ConfigError, match="eval_data"):
        mixed_precision(float_cnn, digits["x_train"][:20], digits["x_val"][:20])


def test_export_tflite_mixed_writes_the_table_in_the_card(trained_cnn, digits, tmp_path):
    path = tmp_path / "m.tflite"
    card = export_tflite(trained_cnn, path, format="mixed", representative_data=digits["x_train"],
                         eval_data=(digits["x_val"], digits["y_val"]), num_samples=100, latency_runs=0)
    on_disk = json.loads((tmp_path / "m.json").read_text())
    assert on_disk["format"] == "mixed" and on_disk["is_fully_integer"]
    table = on_disk["mixed_precision"]["sensitivity"]
    assert len(table) == 6 and all(0 <= row["accuracy"] <= 1 for row in table)
    assert card["accuracy"]["tflite"] == pytest.approx(on_disk["mixed_precision"]["formats"]["mixed"]["accuracy"])
    with pytest.raises(ConfigError, match="eval_data"):
        export_tflite(trained_cnn, tmp_path / "n.tflite", format="mixed", representative_data=digits["x_train"])


def test_export_stage_accepts_mixed_and_round_trips():
    from tfcompress.pipeline.export_stage import ExportStage

    stage = ExportStage(format="mixed", tolerance=0.01)
    assert ExportStage.from_config(stage.get_config()).get_config() == stage.get_config()
    assert stage.get_config()["tolerance"] == 0.01
    with pytest.raises(ConfigError, match="tolerance"):
        ExportStage(format="mixed", tolerance="small")


def test_pipeline_export_mixed_shows_the_table_in_report_md(trained_cnn, digits, tmp_path):
    from tfcompress.pipeline import Pipeline

    trained_cnn.save(tmp_path / "teacher.keras")
    np.savez(tmp_path / "data.npz", **digits)
    pipe = Pipeline([{"export": {"format": "mixed", "tolerance": 0.01, "num_samples": 100}}],
                    teacher=str(tmp_path / "teacher.keras"), data=str(tmp_path / "data.npz"),
                    output=str(tmp_path / "out"), latency_runs=5)
    report = pipe.run(verbose=0)
    card = json.loads((tmp_path / "out" / "model.json").read_text())
    assert card["format"] == "mixed" and len(card["mixed_precision"]["sensitivity"]) == 6
    assert report["stages"][-1]["config"]["tolerance"] == 0.01
    # the precision is chosen on the validation split; the card's accuracy is on the test split
    assert card["mixed_precision"]["verification"]["litert"]["num_samples"] == len(digits["y_val"])
    assert card["accuracy"]["num_samples"] == len(digits["y_test"])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Mixed precision (litert-quantizer" in text and "| MAX_POOL_2D | `cnn/pool0/MaxPool` |" in text


def test_an_integer_file_is_refused(converted, digits):
    with pytest.raises(ConfigError, match="float .tflite"):
        layer_sensitivity(converted("int8"), digits["x_train"][:20], (digits["x_val"][:20], digits["y_val"][:20]))
