"""Untrusted files: no unpickling, no unsafe YAML, Lambda layers only with an explicit opt-in."""

import os
import re

import numpy as np
import pytest

import tfcompress
from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.interop import load_model
from tfcompress.pipeline.recipe import parse_recipe

PACKAGE = os.path.dirname(tfcompress.__file__)
FORBIDDEN = {
    "pickle": re.compile(r"\bimport\s+(c?pickle|dill|cloudpickle|joblib|shelve|marshal)\b|\bpickle\.loads?\("),
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "unsafe YAML loader": re.compile(r"yaml\.(load|load_all|unsafe_load|unsafe_load_all|full_load)\s*\(|"
                                     r"yaml\.(Unsafe|Full)?Loader\b"),
    "eval/exec": re.compile(r"(?<![\w.])(eval|exec)\s*\("),
    "safe_mode=False by default": re.compile(r"def \w+\([^)]*(safe_mode\s*=\s*False|unsafe\w*\s*=\s*True)"),
}


def _sources():
    for root, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, PACKAGE), f.read()


def test_the_package_never_unpickles_or_loads_yaml_unsafely():
    hits = [(path, what, m.group(0)) for path, text in _sources() for what, rx in FORBIDDEN.items()
            for m in rx.finditer(text)]
    assert hits == []


def test_every_np_load_refuses_pickles():
    for path, text in _sources():
        for call in re.finditer(r"np\.load\(([^)]*)\)", text):
            assert "allow_pickle=False" in call.group(1), (path, call.group(0))


def test_the_forbidden_patterns_do_match_what_they_forbid():
    samples = {"pickle": "import pickle", "allow_pickle=True": "np.load(p, allow_pickle=True)",
               "unsafe YAML loader": "yaml.load(text, Loader=yaml.Loader)", "eval/exec": "x = eval(s)",
               "safe_mode=False by default": "def load(path, safe_mode=False):"}
    for what, sample in samples.items():
        assert FORBIDDEN[what].search(sample), what
    assert not FORBIDDEN["eval/exec"].search("model.evaluate(x)") and not FORBIDDEN["eval/exec"].search("m.eval(x)")


def test_recipe_tags_never_construct_objects(tmp_path):
    marker = tmp_path / "pwned"
    for text in (f"seed: !!python/object/apply:os.system ['touch {marker}']\n",
                 "seed: !!python/name:os.system\n", "seed: !!binary aGVsbG8=\nstages: []\n"):
        with pytest.raises(ConfigError):
            parse_recipe(text, require_paths=False)
    assert not marker.exists()


@pytest.fixture
def lambda_model_file(tmp_path):
    inp = keras.Input((4,))
    out = keras.layers.Lambda(lambda t: t * 2.0, name="doubler")(keras.layers.Dense(3)(inp))
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    return path


def test_lambda_is_refused_by_default_and_names_the_opt_in(lambda_model_file):
    with pytest.raises(ModelError, match="Lambda layer.*--unsafe-load"):
        load_model(lambda_model_file)


def test_lambda_loads_with_the_opt_in(lambda_model_file):
    model = load_model(lambda_model_file, safe_mode=False)
    assert "doubler" in [layer.name for layer in model.layers]
    x = np.ones((2, 4), "float32")
    dense = model.layers[1]
    np.testing.assert_allclose(model(x).numpy(), 2.0 * dense(x).numpy(), rtol=1e-6)


def test_the_cli_flag_says_what_it_means():
    from tfcompress.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    (flag,) = [a for a in run._actions if "--unsafe-load" in a.option_strings]
    assert "runs code" in flag.help and "trusted" in flag.help
