"""The int8 models shipped in tflite_models/ load, are fully integer, and score as their model cards say."""

import glob
import hashlib
import json
import os

import pytest

from tfcompress.data import load_digits_data
from tfcompress.export import evaluate_tflite, inspect_tflite

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tflite_models")
MODELS = sorted(glob.glob(os.path.join(ROOT, "*.tflite")))


def test_the_demo_model_is_shipped():
    assert any(os.path.basename(m).startswith("digits") for m in MODELS), "run `tfcompress demo` from the repo root"


@pytest.mark.parametrize("path", MODELS, ids=os.path.basename)
def test_model_matches_its_card(path):
    with open(os.path.splitext(path)[0] + ".json") as f:
        card = json.load(f)
    with open(path, "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == card["file"]["sha256"]
    assert len(data) == card["file"]["bytes"]
    info = inspect_tflite(data)
    assert info["is_fully_integer"] and card["is_fully_integer"]
    assert info["inputs"][0]["dtype"] == "int8" if card["format"] == "int8" else True
    digits = load_digits_data()
    x, y = digits["x_test"], digits["y_test"]
    assert card["accuracy"]["num_samples"] == len(y)
    assert evaluate_tflite(data, x, y) == pytest.approx(card["accuracy"]["tflite"], abs=1e-9)
