"""The ``factorize`` stages: registry, configuration round-trip, apply with a Trainer."""

import json

import numpy as np
import pytest

from tfcompress import build_mlp
from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.lowrank import PCAFactorize, SVDFactorize
from tfcompress.stage import get_stage_class
from tfcompress.train import Trainer


@pytest.fixture(autouse=True)
def seed():
    keras.utils.set_random_seed(0)


def _data(n=240, dim=16, classes=3):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(classes, dim)) * 2.0
    y = rng.integers(0, classes, size=n)
    x = (centres[y] + rng.normal(size=(n, dim))).astype("float32")
    half = n * 3 // 4
    return {"x_train": x[:half], "y_train": y[:half], "x_val": x[half:], "y_val": y[half:]}


def test_registered_under_factorize():
    assert get_stage_class("factorize") is SVDFactorize
    assert get_stage_class("factorize", "svd") is SVDFactorize
    assert get_stage_class("factorize", "pca") is PCAFactorize


@pytest.mark.parametrize("stage", [
    SVDFactorize(),
    SVDFactorize(energy=0.8, conv_mode="spatial", layers=["a", "b"], only_if_smaller=False, epochs=2,
                 learning_rate=1e-4),
    SVDFactorize(rank={"dense0": 4}, conv_mode="none"),
    SVDFactorize(target=0.5),
    PCAFactorize(),
    PCAFactorize(rank=3, source="inputs", conv_mode="none", num_batches=2, epochs=1),
    PCAFactorize(target=1000, layers=["x"]),
], ids=lambda s: repr(s))
def test_config_round_trip(stage):
    config = stage.get_config()
    config = json.loads(json.dumps(config))  # what a recipe file can hold
    again = type(stage).from_config(config)
    assert again.get_config() == stage.get_config()
    assert repr(again) == repr(stage)


@pytest.mark.parametrize("cls,kwargs,match", [
    (SVDFactorize, {"energy": 0.9, "target": 0.5}, "one of"),
    (SVDFactorize, {"epochs": -1}, "epochs"),
    (SVDFactorize, {"conv_mode": "weird"}, "conv_mode"),
    (SVDFactorize, {"layers": "dense0"}, "layers"),
    (PCAFactorize, {"source": "both"}, "source"),
    (PCAFactorize, {"num_batches": 0}, "num_batches"),
    (PCAFactorize, {"conv_mode": "spatial"}, "conv_mode"),
])
def test_bad_configs_are_refused_at_construction(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)
    with pytest.raises(ConfigError):
        cls.from_config({"no_such_option": 1})


def test_svd_stage_applies_and_fine_tunes():
    data = _data()
    trainer = Trainer(data, batch_size=32)
    model = build_mlp((16,), 3, units=(48, 48))
    trainer.fit(model, 5)
    stage = SVDFactorize(rank=4, epochs=3, learning_rate=3e-3)
    new = stage.apply(model, trainer)
    report = stage.report
    assert new.count_params() == report["params_after"] < report["params_before"] == model.count_params()
    assert {"val_accuracy_before", "val_accuracy_factorized", "val_accuracy_finetuned"} <= set(report)
    # rank 4 of a barely trained (flat-spectrum) MLP loses much; fine-tuning recovers most of it
    assert report["val_accuracy_finetuned"] >= report["val_accuracy_factorized"] + 0.2
    json.dumps(report)


def test_svd_stage_without_trainer_and_pca_stage_needs_one():
    model = build_mlp((16,), 3, units=(48,))
    stage = SVDFactorize(rank=2)
    new = stage.apply(model, None)
    assert stage.report["factorized"] == ["dense0", "logits"] and "val_accuracy_before" not in stage.report
    assert new.count_params() < model.count_params()
    with pytest.raises(ConfigError, match="trainer"):
        SVDFactorize(rank=2, epochs=1).apply(model, None)
    with pytest.raises(ConfigError, match="(?i)trainer"):
        PCAFactorize().apply(model, None)


def test_pca_stage_uses_trainer_batches():
    data = _data()
    trainer = Trainer(data, batch_size=20)
    model = build_mlp((16,), 3, units=(48,))
    stage = PCAFactorize(rank=4, num_batches=3)
    new = stage.apply(model, trainer)
    assert stage.report["samples"]["dense0"] == 60
    assert stage.report["method"] == "pca" and stage.report["epochs"] == 0
    assert new.count_params() == stage.report["params_after"] < model.count_params()
