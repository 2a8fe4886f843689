"""Every pruning stage: registry, config round-trip (also through JSON), validation; the summary table."""

import json

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.prune import (ChannelPruning, GradientPruning, MagnitudePruning, MbyNPruning, format_summary,
                              make_schedule, sparsity_summary, total_sparsity, wrap_for_pruning)
from tfcompress.stage import get_stage_class

NON_DEFAULT = {
    MagnitudePruning: {"sparsity": 0.8, "epochs": 3, "schedule": "constant", "layer_sparsity": {"dense": 0.5},
                       "exclude": ["logits"], "initial_sparsity": 0.1, "end_fraction": 0.5, "updates": 4,
                       "learning_rate": 1e-4},
    MbyNPruning: {"m_by_n": [1, 4], "epochs": 1, "exclude": [], "learning_rate": 5e-4},
    GradientPruning: {"sparsity": 0.9, "epochs": 0, "criterion": "movement", "scope": "layer", "batches": 2,
                      "layer_sparsity": {"conv1": 0.5}, "exclude": ["first_conv"], "learning_rate": None},
    ChannelPruning: {"keep_ratio": 0.25, "epochs": 1, "criterion": "bn_gamma", "layer_ratios": {"conv1": 0.5},
                     "exclude": ["conv0"], "min_channels": 2, "divisor": 4, "learning_rate": 1e-3, "scope": "global",
                     "budget": {"max_bytes": 20000, "max_params_share": 0.5}, "recalibrate_bn": False},
}


def test_registry_maps_methods_to_classes():
    assert get_stage_class("prune") is MagnitudePruning
    for cls in NON_DEFAULT:
        assert get_stage_class("prune", cls.method) is cls
    with pytest.raises(ConfigError, match="channel"):
        get_stage_class("prune", "random")


@pytest.mark.parametrize("cls", list(NON_DEFAULT), ids=lambda c: c.__name__)
def test_config_round_trip(cls):
    default = cls()
    assert cls.from_config(default.get_config()).get_config() == default.get_config()
    stage = cls(**NON_DEFAULT[cls])
    assert stage.get_config() == NON_DEFAULT[cls]
    through_json = cls.from_config(json.loads(json.dumps(stage.get_config())))
    assert through_json.get_config() == NON_DEFAULT[cls]
    assert json.loads(json.dumps(default.get_config())) is not None


@pytest.mark.parametrize("cls,bad", [
    (MagnitudePruning, {"sparsity": 1.0}), (MagnitudePruning, {"schedule": "linear"}),
    (MagnitudePruning, {"epochs": 0}), (GradientPruning, {"criterion": "hessian"}),
    (GradientPruning, {"batches": 0}), (ChannelPruning, {"keep_ratio": 0}), (ChannelPruning, {"divisor": 0}),
    (MbyNPruning, {"m_by_n": (3, 3)}), (MagnitudePruning, {"sparsty": 0.5}),
])
def test_bad_configs_raise_config_error(cls, bad):
    with pytest.raises(ConfigError):
        cls.from_config(bad)


def test_summary_counts_zeros_and_looks_through_wrappers(cnn):
    dense = cnn.get_layer("dense")
    kernel, bias = dense.get_weights()
    kernel[:, :4] = 0.0
    dense.set_weights([kernel, bias])
    rows = {r["layer"]: r for r in sparsity_summary(cnn)}
    assert list(rows) == ["conv0", "bn0", "conv1", "bn1", "dense", "logits"]
    assert rows["dense"]["kernel_params"] == kernel.size == 16 * 16
    assert rows["dense"]["kernel_sparsity"] == pytest.approx(0.25)
    assert rows["dense"]["bytes_float32"] == 4 * (16 * 16 + 16)
    assert rows["bn0"]["kernel_params"] == 0
    wrapped = wrap_for_pruning(cnn, {"dense": make_schedule("constant", 0.5, 1, 4)})
    wrapped_rows = {r["layer"]: r for r in sparsity_summary(wrapped)}
    assert wrapped_rows["dense"]["params"] == rows["dense"]["params"]  # mask/threshold/step not counted
    assert wrapped_rows["dense"]["kernel_sparsity"] == pytest.approx(0.25)
    assert total_sparsity(list(rows.values()), layers=["dense"]) == pytest.approx(0.25)


def test_summary_of_nested_model_and_text_table(cnn):
    inputs = keras.Input((8, 8, 1))
    outer = keras.Model(inputs, keras.layers.Softmax()(cnn(inputs)), name="outer")
    rows = sparsity_summary(outer)
    assert rows[0]["layer"] == "cnn/conv0"
    text = format_summary(rows)
    assert "cnn/conv1" in text and text.splitlines()[-1].startswith("total")
    assert str(sum(r["params"] for r in rows)) in text.splitlines()[-1]
    assert np.isclose(total_sparsity(rows), 0.0)
