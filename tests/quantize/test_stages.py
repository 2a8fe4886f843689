"""Stage classes: registry keys, config round-trip of every class, argument validation."""

import json

import pytest

from tfcompress.errors import ConfigError
from tfcompress.quantize import (ClusterPreservingQAT, PostTrainingQuantization, PrunePreservingQAT,
                                 QuantizeAwareTraining, WeightClustering)
from tfcompress.stage import get_stage_class

STAGES = [
    QuantizeAwareTraining(epochs=3, learning_rate=1e-4, skip_layers=["logits"]),
    PrunePreservingQAT(epochs=1),
    ClusterPreservingQAT(epochs=0, skip_layers=[]),
    PostTrainingQuantization(),
    WeightClustering(number_of_clusters=8, init="density-based", epochs=1, learning_rate=5e-4,
                     skip_layers=["conv0"], skip_first=True, skip_last=True, preserve_sparsity=True),
]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: type(s).__name__)
def test_config_round_trip(stage):
    config = stage.get_config()
    assert json.loads(json.dumps(config)) == config  # recipe-safe
    again = type(stage).from_config(config)
    assert type(again) is type(stage) and again.get_config() == config


@pytest.mark.parametrize("key, method, cls", [
    ("quantize", None, QuantizeAwareTraining),
    ("quantize", "qat", QuantizeAwareTraining),
    ("quantize", "pqat", PrunePreservingQAT),
    ("quantize", "cqat", ClusterPreservingQAT),
    ("quantize", "ptq", PostTrainingQuantization),
    ("cluster", None, WeightClustering),
])
def test_registry(key, method, cls):
    assert get_stage_class(key, method) is cls


@pytest.mark.parametrize("cls, kwargs", [
    (QuantizeAwareTraining, {"epochs": -1}),
    (QuantizeAwareTraining, {"epochs": 1.5}),
    (QuantizeAwareTraining, {"learning_rate": 0}),
    (PrunePreservingQAT, {"skip_layers": "logits"}),
    (WeightClustering, {"number_of_clusters": 1}),
    (WeightClustering, {"init": "kmeans"}),
    (PostTrainingQuantization, {"epochs": 1}),
])
def test_bad_arguments_raise_config_error(cls, kwargs):
    with pytest.raises(ConfigError):
        cls.from_config(kwargs)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="cqat, pqat, ptq, qat"):
        get_stage_class("quantize", "int4")
