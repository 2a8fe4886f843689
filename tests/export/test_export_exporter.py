import json
import os
import re

import numpy as np
import pytest

from tfcompress._keras import tf
from tfcompress.errors import ConfigError, ConversionError
from tfcompress.export import export_tflite, write_c_array


@pytest.fixture(scope="module")
def exported(trained_cnn, digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    path = str(folder / "sub" / "model.tflite")
    stages = [{"name": "prune", "method": "magnitude", "config": {"sparsity": 0.5}}]
    card = export_tflite(trained_cnn, path, format="int8", representative_data=digits["x_train"],
                         eval_data=(digits["x_test"], digits["y_test"]), stages=stages, latency_runs=20,
                         c_array=True)
    return path, card


def test_files_written(exported):
    path, card = exported
    assert os.path.exists(path) and os.path.exists(path[:-len(".tflite")] + ".json")
    with open(path, "rb") as f:
        data = f.read()
    assert card["file"]["bytes"] == len(data)
    assert sorted(os.listdir(os.path.dirname(path))) == ["model.cc", "model.h", "model.json", "model.tflite"]


def test_model_card_fields(exported, trained_cnn):
    path, card = exported
    with open(path[:-len(".tflite")] + ".json") as f:
        on_disk = json.load(f)
    assert on_disk == json.loads(json.dumps(card))
    assert card["format"] == "int8" and card["is_fully_integer"] is True
    io = card["inputs"][0]
    assert io["shape"] == [-1, 8, 8, 1] and io["dtype"] == "int8" and io["scale"] > 0
    assert card["outputs"][0]["shape"] == [-1, 10]
    assert card["file"]["gzip_bytes"] < card["file"]["bytes"]
    assert 0.0 <= card["sparsity"] < 0.1
    acc = card["accuracy"]
    assert acc["num_samples"] == 450 and abs(acc["drop"]) <= 0.02 and acc["keras"] > 0.8
    assert acc["tflite"] == pytest.approx(acc["keras"] - acc["drop"])
    lat = card["latency"]
    assert lat["runs"] == 20 and lat["median_us"] > 0 and lat["num_threads"] == 1 and lat["delegate"]
    assert "proxy" in card["note"]
    assert card["stages"][0]["config"] == {"sparsity": 0.5}
    versions = card["versions"]
    assert versions["tensorflow"].startswith("2.") and versions["tf-keras"] and versions["ai-edge-litert"]
    assert versions["tensorflow-model-optimization"] and versions["tfcompress"]
    assert re.match(r"\d{4}-\d\d-\d\dT", card["created"])
    assert card["keras_model"]["params"] == trained_cnn.count_params()


def test_c_array_matches_the_file(exported):
    path, card = exported
    stem = path[:-len(".tflite")]
    with open(path, "rb") as f:
        data = f.read()
    with open(stem + ".cc") as f:
        source = f.read()
    with open(stem + ".h") as f:
        header = f.read()
    assert f"const unsigned int g_model_len = {len(data)};" in source
    assert "alignas(16) const unsigned char g_model[]" in source
    values = re.findall(r"0x([0-9a-f]{2})", source)
    assert bytes(int(v, 16) for v in values) == data
    assert "extern const unsigned char g_model[];" in header and "#ifndef MODEL_H_" in header
    assert int(re.search(r"G_MODEL_ARENA_ESTIMATE_BYTES (\d+)", header).group(1)) > 0


def test_write_c_array_checks_the_name(int8_bytes, tmp_path):
    with pytest.raises(ConfigError, match="C identifier"):
        write_c_array(int8_bytes, str(tmp_path / "m"), var_name="9model")
    cc, h = write_c_array(int8_bytes, str(tmp_path / "m"), var_name="kws_model")
    with open(cc) as f:
        assert f"kws_model_len = {len(int8_bytes)};" in f.read()


def test_int8_export_of_a_float_fallback_model_writes_nothing(lambda_model, tmp_path):
    model = lambda_model(tf.math.cos)
    path = tmp_path / "m.tflite"
    with pytest.raises(ConversionError, match="COS"):
        export_tflite(model, str(path), representative_data=np.random.rand(30, 6).astype("float32"),
                      latency_runs=0)
    assert os.listdir(tmp_path) == []


def test_bad_eval_data(trained_cnn, tmp_path):
    with pytest.raises(ConfigError, match="eval_data"):
        export_tflite(trained_cnn, str(tmp_path / "m.tflite"), format="float", eval_data=[1, 2, 3])
