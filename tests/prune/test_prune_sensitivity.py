"""Sensitivity scan and budget allocation: sensitive groups keep more, budgets are met or refused clearly."""

import numpy as np
import pytest

import channel_models as cm
from tfcompress._keras import keras
from tfcompress.errors import BudgetError, ConfigError
from tfcompress.export import convert
from tfcompress.prune import ChannelGraph, allocate, plan_channels, prune_channels, sensitivity_scan, zero_channels
from tfcompress.prune.budget import prune_to_budget

L = keras.layers


def _two_branches():
    """Branch 'loud' carries the prediction (large weights); branch 'quiet' hardly contributes."""
    inputs = keras.Input((8, 8, 1))
    loud = L.Conv2D(16, 3, padding="same", activation="relu", name="loud")(inputs)
    quiet = L.Conv2D(16, 3, padding="same", activation="relu", name="quiet")(inputs)
    x = L.GlobalAveragePooling2D(name="gap")(L.Concatenate(name="cat")([loud, quiet]))
    model = keras.Model(inputs, L.Dense(4, name="logits")(x))
    rng = np.random.default_rng(0)
    for name, scale in (("loud", 3.0), ("quiet", 1e-3)):
        model.get_layer(name).set_weights([rng.normal(0, scale, (3, 3, 1, 16)).astype("float32"),
                                           np.zeros(16, "float32")])
    x_val = rng.normal(size=(128, 8, 8, 1)).astype("float32")
    y_val = model.predict(x_val, verbose=0).argmax(-1)  # the model is right by construction: drops show damage
    return model, x_val, y_val


def test_scan_measures_a_sensitive_group_and_a_harmless_one():
    model, x_val, y_val = _two_branches()
    table = sensitivity_scan(model, x_val, y_val)
    assert table.base_accuracy == 1.0 and set(table.accuracy) == {"loud", "quiet"}
    assert table.drop("loud", 0.25) > 0.2 and table.drop("loud", 0.25) >= table.drop("loud", 0.75) - 0.05
    assert abs(table.drop("quiet", 0.25)) < 0.05
    assert table.params["quiet"][0.25] == model.count_params() - 12 * 10 - 12 * 4  # 12 filters and head rows
    report = table.to_dict()
    assert set(report) == {"base_accuracy", "seconds", "params_full", "drop", "params"}
    assert report["drop"]["quiet"].keys() == {"0.75", "0.5", "0.25"}


def test_allocation_meets_the_budget_and_prunes_the_harmless_group_most():
    model, x_val, y_val = _two_branches()
    graph = ChannelGraph(model)
    table = sensitivity_scan(model, x_val, y_val, graph=graph)
    budget = model.count_params() - 150
    ratios = allocate(table, graph, budget)
    assert ratios["quiet"] < ratios.get("loud", 1.0)
    small = prune_channels(model, 1.0, layer_ratios=ratios)
    assert small.count_params() <= budget
    with pytest.raises(BudgetError, match="cannot be met"):
        allocate(table, graph, 100)


def test_a_trial_is_what_the_pruned_and_recalibrated_model_scores():
    """The scan zeroes channels instead of rebuilding: with BN recalibration both give the same accuracy."""
    model = cm.randomise(cm.resnet(input_shape=(16, 16, 3), widths=(8, 16, 16)))
    rng = np.random.default_rng(0)
    x_val, x_cal = rng.normal(size=(64, 16, 16, 3)).astype("float32"), rng.normal(size=(64, 16, 16, 3)).astype("float32")
    y_val = model.predict(x_val, verbose=0).argmax(-1)
    table = sensitivity_scan(model, x_val, y_val, ratios=[0.5], groups=["s1b0_proj"], x_calibration=x_cal,
                             calibration_batches=2, batch_size=32)
    from tfcompress.prune import recalibrate_batch_norm
    from tfcompress.prune.batchnorm import calibration_batches
    from tfcompress.train import accuracy

    pruned = prune_channels(model, 1.0, layer_ratios={"s1b0_proj": 0.5})
    recalibrate_batch_norm(pruned, calibration_batches(x_cal, 2, 32))
    assert table.accuracy["s1b0_proj"][0.5] == pytest.approx(accuracy(pruned, x_val, y_val), abs=1.5 / 64)
    with pytest.raises(ConfigError, match="not prunable"):
        sensitivity_scan(model, x_val, y_val, groups=["logits"])
    with pytest.raises(ConfigError, match="below 1"):
        sensitivity_scan(model, x_val, y_val, ratios=[1.0])


def test_byte_budget_is_confirmed_on_the_int8_file():
    model = cm.resnet(input_shape=(16, 16, 3), widths=(8, 16, 32))
    rng = np.random.default_rng(0)
    x_val = rng.normal(size=(64, 16, 16, 3)).astype("float32")
    y_val = model.predict(x_val, verbose=0).argmax(-1)
    graph = ChannelGraph(model)
    table = sensitivity_scan(model, x_val, y_val, ratios=[0.25], graph=graph)
    original = len(convert(model, "int8", representative_data=x_val))
    small, info = prune_to_budget(model, {"max_bytes": int(0.6 * original)}, table, graph,
                                  representative_data=x_val)
    assert info["int8_bytes"] == len(convert(small, "int8", representative_data=x_val)) <= 0.6 * original
    assert info["int8_bytes_original"] == original and info["params"] == small.count_params()
    with pytest.raises(BudgetError, match="max_bytes=1,000 cannot be met"):
        prune_to_budget(model, {"max_bytes": 1000}, table, graph, representative_data=x_val)
    with pytest.raises(ConfigError, match="representative_data"):
        prune_to_budget(model, {"max_bytes": 1000}, table, graph)
