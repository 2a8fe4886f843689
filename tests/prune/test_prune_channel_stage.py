"""The channel pruning stage on a small residual model: report, budget, BN recalibration, config round trip."""

import numpy as np
import pytest

import channel_models as cm
from tfcompress._keras import keras
from tfcompress.errors import ModelError
from tfcompress.prune import ChannelPruning, plan_channels, prune_channels, recalibrate_batch_norm
from tfcompress.prune.stages import RECALIBRATION_BATCHES

L = keras.layers


def _residual():
    return cm.resnet(input_shape=(8, 8, 1), classes=4, widths=(8, 16, 16), name="residual")


def test_stage_prunes_fine_tunes_and_reports(trainer):
    model = _residual()
    stage = ChannelPruning(keep_ratio=0.5, epochs=1)
    small = stage.apply(model, trainer)
    report = stage.report
    assert {"method", "channels", "groups", "params_before", "params_after", "bytes_float32_after",
            "val_accuracy", "val_accuracy_before_finetune"} <= set(report)
    assert report["params_after"] == small.count_params() < 0.4 * report["params_before"]
    assert report["params_before"] == model.count_params()
    assert report["groups"]["stem"] == [8, 4] and report["groups"]["s1b0_proj"] == [16, 8]
    assert report["channels"]["s0b0_conv1"] == [8, 4] and report["channels"]["logits"] == [4, 4]
    assert 0.0 <= report["val_accuracy"] <= 1.0
    assert "sensitivity" not in report
    assert small.output_shape == model.output_shape


def test_stage_recalibrates_batch_norm_after_the_rebuild(trainer):
    model = cm.randomise(_residual())
    stage = ChannelPruning(keep_ratio=0.5, epochs=0)
    small = stage.apply(model, trainer)
    expected = recalibrate_batch_norm(prune_channels(model, 0.5), trainer.data["x_train"], RECALIBRATION_BATCHES,
                                      trainer.batch_size)
    for name in ("stem_bn", "s1b1_bn2"):
        np.testing.assert_allclose(small.get_layer(name).moving_variance.numpy(),
                                   expected.get_layer(name).moving_variance.numpy(), rtol=1e-4, atol=1e-5)
    untouched = ChannelPruning(keep_ratio=0.5, epochs=0, recalibrate_bn=False).apply(model, trainer)
    kept = plan_channels(model, 0.5).kept("stem")
    np.testing.assert_array_equal(untouched.get_layer("stem_bn").moving_mean.numpy(),
                                  model.get_layer("stem_bn").moving_mean.numpy()[kept])


def test_budget_runs_a_sensitivity_scan_and_meets_it(trainer):
    model = _residual()
    stage = ChannelPruning(budget={"max_params_share": 0.5}, epochs=0, recalibrate_bn=False)
    small = stage.apply(model, trainer)
    report = stage.report
    assert small.count_params() <= 0.5 * model.count_params()
    assert set(report["sensitivity"]["drop"]) == {g for g in report["groups"]}
    assert report["budget"]["max_params_share"] == 0.5 and report["budget"]["layer_ratios"]
    assert report["budget"]["params"] == small.count_params() == report["params_after"]


def test_unsupported_model_is_refused_before_any_training():
    class Twice(L.Layer):
        def call(self, x):
            return 2.0 * x

    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, L.Dense(4)(L.Flatten()(Twice(name="twice")(L.Conv2D(4, 3)(inputs)))))

    class NoTraining:
        data = {"x_train": np.zeros((4, 8, 8, 1), "float32"), "y_train": np.zeros(4, "int32")}
        batch_size = 2

        def fit(self, *args, **kwargs):
            raise AssertionError("trained before refusing the model")

    with pytest.raises(ModelError, match=r"'twice' \(Twice\)"):
        ChannelPruning().apply(model, NoTraining())


def test_config_round_trip_is_the_constructor_arguments():
    options = {"keep_ratio": 0.3, "epochs": 0, "criterion": "taylor", "layer_ratios": {"stem": 0.5},
               "exclude": ["s0b0_conv1"], "min_channels": 2, "divisor": 4, "learning_rate": 1e-4,
               "scope": "global", "budget": {"max_params": 5000}, "recalibrate_bn": False}
    stage = ChannelPruning(**options)
    assert stage.get_config() == options
    assert ChannelPruning.from_config(stage.get_config()).get_config() == options
    assert ChannelPruning.from_config(ChannelPruning().get_config()).get_config() == ChannelPruning().get_config()
