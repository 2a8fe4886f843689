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


@pytest.mark.parametrize("ptq, qat, kept", [(0.9, 0.8, "ptq"), (0.8, 0.9, "qat"), (0.85, 0.85, "qat")])
def test_qat_falls_back_to_post_training_int8_when_it_scores_lower(trained_cnn, trainer, monkeypatch, ptq, qat,
                                                                   kept):
    from tfcompress.quantize import count_quantized_layers, stages

    scores = iter([ptq, qat])
    measured = []
    monkeypatch.setattr(stages, "int8_val_accuracy", lambda model, data: measured.append(model) or next(scores))
    stage = QuantizeAwareTraining(epochs=0)
    out = stage.apply(trained_cnn, trainer)
    assert measured[0] is trained_cnn and measured[1] is not trained_cnn  # before QAT, then the QAT model
    assert stage.report["kept"] == kept
    assert stage.report["int8_val_accuracy_ptq"] == ptq and stage.report["int8_val_accuracy_qat"] == qat
    if kept == "ptq":
        assert out is trained_cnn  # returned as it came: the export quantizes it post-training
    else:
        assert count_quantized_layers(out) > 0


def test_qat_fallback_measures_real_int8_files_and_can_be_turned_off(trained_cnn, trainer, monkeypatch):
    from tfcompress.quantize import stages

    ptq = stages.int8_val_accuracy(trained_cnn, trainer.data)
    assert 0.5 < ptq <= 1.0  # a real measurement: the ~0.8-accurate CNN, converted to int8
    monkeypatch.setattr(stages, "int8_val_accuracy", lambda *a: pytest.fail("measured with ptq_fallback off"))
    stage = QuantizeAwareTraining(epochs=0, ptq_fallback=False)
    out = stage.apply(trained_cnn, trainer)
    assert out is not trained_cnn and stage.report["kept"] == "qat"
    assert stage.report["int8_val_accuracy_ptq"] is None
