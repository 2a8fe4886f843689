import argparse
import json

import numpy as np
import pytest

from tfcompress.errors import ConfigError, ConversionError, DataError, ModelError, ShapeError, TFCompressError
from tfcompress.export import commands


@pytest.fixture(scope="module")
def parser():
    p = argparse.ArgumentParser(prog="tfcompress")
    commands.add_parsers(p.add_subparsers(dest="command"))
    return p


@pytest.fixture(scope="module")
def files(trained_cnn, digits, int8_bytes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    model_path = str(folder / "teacher.keras")
    trained_cnn.save(model_path)
    data_path = str(folder / "digits.npz")
    np.savez(data_path, **digits)
    tflite_path = str(folder / "given.tflite")
    with open(tflite_path, "wb") as f:
        f.write(int8_bytes)
    return folder, model_path, data_path, tflite_path


def run(parser, argv):
    args = parser.parse_args(argv)
    return args.func(args)


def test_export_command(parser, files, capsys):
    folder, model_path, data_path, _ = files
    out = str(folder / "out.tflite")
    assert run(parser, ["export", model_path, "--data", data_path, "--output", out, "--c-array",
                        "--latency-runs", "10"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "fully integer: True" in text and "drop" in text
    with open(str(folder / "out.json")) as f:
        assert json.load(f)["format"] == "int8"
    assert (folder / "out.cc").exists()


def test_export_command_with_tflm(parser, files, capsys):
    folder, model_path, data_path, _ = files
    out = str(folder / "micro.tflite")
    assert run(parser, ["export", model_path, "--data", data_path, "--output", out, "--c-array", "--tflm",
                        "--latency-runs", "0"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("TFLite Micro:")]
    with open(str(folder / "micro.json")) as f:
        tflm = json.load(f)["tflm"]
    assert len(lines) == 1 and f"arena {tflm['arena_bytes']} bytes measured" in lines[0]
    assert f"agreement with LiteRT {tflm['argmax_agreement']:.4f}" in lines[0] and "LSB" in lines[0]
    assert f"G_MODEL_ARENA_BYTES {tflm['arena_with_margin_bytes']}" in (folder / "micro.h").read_text()


def test_evaluate_command(parser, files, capsys):
    _, _, data_path, tflite_path = files
    assert run(parser, ["evaluate", tflite_path, data_path, "--runs", "10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_samples"] == 450 and 0.8 < result["accuracy"] <= 1.0
    assert result["latency"]["runs"] == 10
    assert run(parser, ["evaluate", tflite_path, data_path, "--split", "val", "--runs", "0"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_inspect_command(parser, files, capsys):
    tflite_path = files[3]
    assert run(parser, ["inspect", tflite_path]) == 0
    text = capsys.readouterr().out
    assert "CONV_2D" in text and "zero point" in text and "fully integer: True" in text
    assert run(parser, ["inspect", tflite_path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ops"]["FULLY_CONNECTED"] == 2


def test_errors_are_one_line_tfcompress_errors(parser, files, tmp_path):
    _, model_path, data_path, tflite_path = files
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ConversionError) as info:
        run(parser, ["inspect", str(junk)])
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError):
        run(parser, ["export", str(junk), "--data", data_path])
    with pytest.raises(ConfigError, match="--data"):
        run(parser, ["export", model_path])
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x_test=np.zeros((5, 64), "float32"), y_test=np.zeros(5, "int32"))
    with pytest.raises(ShapeError) as info:
        run(parser, ["evaluate", tflite_path, str(wrong), "--runs", "0"])
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="x_val"):
        run(parser, ["evaluate", tflite_path, str(wrong), "--split", "val"])
    assert issubclass(DataError, TFCompressError)


def test_export_command_mixed(parser, files, digits, capsys):
    pytest.importorskip("litert_quantizer")
    folder, model_path, data_path, _ = files
    out = str(folder / "mixed.tflite")
    assert run(parser, ["export", model_path, "--data", data_path, "--output", out, "--format", "mixed",
                        "--tolerance", "0.01", "--num-samples", "100", "--latency-runs", "0"]) == 0
    text = capsys.readouterr().out
    with open(str(folder / "mixed.json")) as f:
        mixed = json.load(f)["mixed_precision"]
    assert mixed["tolerance"] == 0.01 and f"mixed precision ({mixed['chosen']}): " in text
    assert mixed["verification"]["litert"]["num_samples"] == len(digits["y_val"])  # chosen on x_val
