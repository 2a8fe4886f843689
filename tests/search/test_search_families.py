"""MobileNet/ResNet search spaces: structures drawn, widths fitted to the budget, blocks dropped when needed."""

import keras_tuner
import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.search import search_student
from tfcompress.search.budget import Budget
from tfcompress.search.families import ImageSpace, MobileNetSpace, ResNetSpace
from tfcompress.search.fit import fit_candidate, fit_width
from tfcompress.search.spaces import build_with
from tfcompress.train import Trainer

SHAPE = (24, 24, 3)
X = np.random.default_rng(0).random((32,) + SHAPE).astype("float32")


def _space(cls, **kwargs):
    space = cls(SHAPE, 5, **kwargs)
    space.fit_width = True
    hp = keras_tuner.HyperParameters()
    space.build(hp)
    return space, hp


def _values(hp, **fixed):
    values = {h.name: (h.get_config().get("default") if "default" in h.get_config() else None)
              for h in hp.space}
    values = {k: v for k, v in values.items() if v is not None}
    values.update(fixed)
    return values


@pytest.mark.parametrize("cls, structure, max_bytes", [
    (ResNetSpace, {"stages": 2, "depth_0": 1, "depth_1": 2}, 30000),
    (MobileNetSpace, {"stages": 3, "depth_1": 2, "depth_2": 1, "expansion": 4, "se": True,
                      "activation": "hard_swish"}, 80000),
])
def test_fitted_width_lands_the_int8_file_between_floor_and_budget(cls, structure, max_bytes):
    space, hp = _space(cls)
    budget = Budget(max_bytes=max_bytes)
    fit = fit_width(space, hp, _values(hp, **structure), budget, X, min_fill=0.6)
    assert fit.violations == [] and fit.filled
    assert 0.6 * max_bytes <= fit.measured["int8_bytes"] <= max_bytes
    assert fit.conversions <= 4 and fit.model.count_params() == fit.measured["params"]
    assert space.widths_for({})[0] <= fit.width <= space.widths_for({})[1]


def test_a_structure_too_deep_for_the_budget_loses_blocks_until_it_fits():
    space, hp = _space(MobileNetSpace)
    deep = _values(hp, stages=5, depth_1=3, depth_2=3, depth_3=3, depth_4=3, expansion=6)
    budget = Budget(max_bytes=30000)
    narrowest = build_with(space, hp, dict(deep, width=space.width_range[0]))
    assert narrowest.count_params() > 0
    fit, values, draws = fit_candidate(space, hp, deep, budget, X, min_fill=0.6)
    assert draws > 1 and fit.violations == []
    blocks = lambda v: sum(v.get(f"depth_{i}", 0) for i in range(1, v["stages"]))  # noqa: E731
    assert blocks(values) < blocks(deep) and fit.measured["int8_bytes"] <= 30000
    assert values["width"] == fit.width
    rebuilt = build_with(space, hp, values)  # the values say what was measured
    assert rebuilt.count_params() == fit.measured["params"]


def test_smaller_drops_the_deepest_stage_first_then_stages():
    space, _ = _space(ResNetSpace)
    values = {"stages": 3, "depth_0": 2, "depth_1": 1, "depth_2": 2}
    assert space.smaller(values) == {"stages": 3, "depth_0": 2, "depth_1": 1, "depth_2": 1}
    assert space.smaller({"stages": 3, "depth_0": 1, "depth_1": 1, "depth_2": 1}) == \
        {"stages": 2, "depth_0": 1, "depth_1": 1}
    assert space.smaller({"stages": 2, "depth_0": 1, "depth_1": 1}) is None  # min_stages


def test_image_space_keeps_each_familys_hyperparameters_apart():
    space, hp = _space(ImageSpace)
    hp.values["family"] = "resnet"
    space.build(hp)  # as KerasTuner's initial population does, every family's hyperparameters get registered
    names = {h.name for h in hp.space}
    assert "family" in names and {"mobilenet/stages", "resnet/stages", "mobilenet/se"} <= names
    for family in ("mobilenet", "resnet"):
        model = build_with(space, hp, {"family": family, "width": 0.5})
        kinds = {type(layer).__name__ for layer in model.layers}
        assert ("DepthwiseConv2D" in kinds) == (family == "mobilenet")


def test_unbounded_search_draws_the_width():
    space = MobileNetSpace(SHAPE, 5)
    hp = keras_tuner.HyperParameters()
    space.build(hp)
    assert "width" in {h.name for h in hp.space}


def test_search_of_a_fitted_family_trains_every_draw_within_the_budget(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((96,) + SHAPE).astype("float32")
    y = (x[:, :12].mean(axis=(1, 2, 3)) > x[:, 12:].mean(axis=(1, 2, 3))).astype("int32") + 2 * (x[..., 0].mean(
        axis=(1, 2)) > 0.5)
    data = {"x_train": x[:64], "y_train": y[:64], "x_val": x[64:], "y_val": y[64:]}
    keras.utils.set_random_seed(0)
    trainer = Trainer(data, batch_size=32, learning_rate=1e-2)
    result = search_student(trainer, family="resnet", max_trials=2, epochs=1, budget={"max_bytes": 25000},
                            directory=str(tmp_path))
    assert [t["status"] for t in result.trials] == ["COMPLETED", "COMPLETED"]  # nothing drawn and thrown away
    for trial in result.trials:
        assert trial["int8_bytes"] <= 25000 and trial["draws"] >= 1 and "width" in trial["hyperparameters"]
    assert result.draws_per_trial >= 1
    best = next(t for t in result.trials if t["trial_id"] == result.best_trial_id)
    assert result.best_model.count_params() == best["params"]  # rebuilt at its fitted width
    assert "| draws |" in result.markdown()


def test_width_fitted_to_an_arena_budget_runs_in_that_arena():
    from tfcompress.export import convert
    from tfcompress.export.tflm import measure_arena

    space, hp = _space(ResNetSpace)
    limit = 12000  # the widest candidate of this structure needs about 19.6 kB
    fit = fit_width(space, hp, _values(hp, stages=2, depth_0=1, depth_1=1), Budget(max_arena_bytes=limit), X)
    assert fit.violations == [] and 0.5 * limit <= fit.measured["arena_bytes"] <= limit
    trained_like = fit.model.get_weights()
    fit.model.set_weights([w * 1.05 + 0.01 for w in trained_like])  # trained weights: not the shared constants
    assert measure_arena(convert(fit.model, "int8", representative_data=X))["arena_bytes"] <= limit
