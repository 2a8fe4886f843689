"""Budget, search spaces, Pareto front, table and plot: no training."""

import json
import os
import types

import keras_tuner
import numpy as np
import pytest

from tfcompress import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.search import Budget, CNNSpace, MLPSpace, SearchStage, make_space, mnas_reward, pareto_front, \
    plot_pareto, trials_markdown
from tfcompress.search.families import ImageSpace
from tfcompress.search.spaces import as_hypermodel, build_with, shapes_of, smallest_values
from tfcompress.stage import get_stage_class


def test_budget_round_trip_and_violations():
    b = Budget(max_bytes=5000, max_params=1000, max_latency_us=50.0)
    assert Budget.from_config(json.loads(json.dumps(b.get_config()))) == b
    assert b.violations({"int8_bytes": 4000, "params": 900, "latency_us": 10.0}) == []
    broken = b.violations({"int8_bytes": 6000, "params": 1001, "latency_us": 60.5})
    assert [v.split()[0] for v in broken] == ["int8_bytes", "params", "latency_us"]
    assert Budget().is_unbounded and not b.is_unbounded
    assert Budget.coerce({"max_bytes": 10}) == Budget(max_bytes=10)


def test_arena_bound_round_trips_and_is_checked_after_bytes():
    b = Budget(max_bytes=5000, max_arena_bytes=3000)
    assert Budget.from_config(json.loads(json.dumps(b.get_config()))) == b and b.needs_arena
    assert not Budget(max_bytes=5000).needs_arena and not Budget(max_arena_bytes=1).is_unbounded
    broken = b.violations({"int8_bytes": 6000, "arena_bytes": 3001})
    assert broken == ["int8_bytes 6000 > max_bytes 5000", "arena_bytes 3001 > max_arena_bytes 3000"]


@pytest.mark.parametrize("kwargs", [{"max_bytes": 0}, {"max_params": -3}, {"max_latency_us": float("nan")},
                                    {"max_arena_bytes": True},
                                    {"max_bytes": "big"}, {"max_bytes": True}])
def test_budget_rejects_bad_bounds(kwargs):
    with pytest.raises(ConfigError, match="positive number"):
        Budget(**kwargs)


def test_budget_from_config_unknown_key():
    with pytest.raises(ConfigError, match="valid keys"):
        Budget.from_config({"max_size": 3})


def test_stage_registered_and_round_trips():
    stage = SearchStage(family="mlp", max_trials=3, epochs=2, oracle="hyperband", budget={"max_bytes": 9000},
                        final_epochs=1, reward="mnas", seed=4, directory="/tmp/x")
    assert get_stage_class("search") is SearchStage
    again = SearchStage.from_config(json.loads(json.dumps(stage.get_config())))
    assert again.get_config() == stage.get_config()
    with pytest.raises(ConfigError):
        SearchStage(budget={"max_bytes": -1})


def test_cnn_space_builds_conditional_stages():
    space = CNNSpace((8, 8, 1), 10)
    hp = keras_tuner.HyperParameters()
    hp.values.update({"stages": 3})
    model = space.build(hp)
    assert model.output_shape == (None, 10) and model.input_shape == (None, 8, 8, 1)
    assert {"filters_0", "filters_1", "filters_2", "kernel_size", "separable", "batch_norm",
            "dense_units"} <= set(hp.values)
    # every candidate of the space is small
    big = build_with(space, hp, {"stages": 3, "filters_0": 48, "filters_1": 48, "filters_2": 48,
                                 "kernel_size": 5, "dense_units": 64, "separable": False, "batch_norm": True})
    assert big.count_params() < 150_000


def test_auto_family_and_shapes():
    assert isinstance(make_space("auto", (8, 8, 1), 10), CNNSpace)
    assert isinstance(make_space("auto", (24,), 5), MLPSpace)
    assert isinstance(make_space("auto", (32, 32, 3), 10), ImageSpace)  # MobileNet or ResNet students
    with pytest.raises(ConfigError, match="valid families"):
        make_space("transformer", (24,), 5)
    with pytest.raises(ConfigError, match="image inputs"):
        make_space("resnet", (24,), 5)
    with pytest.raises(ConfigError, match="mlp"):
        make_space("cnn", (24,), 5)
    teacher = keras.Sequential([keras.Input((7,)), keras.layers.Dense(4)])
    assert shapes_of(teacher) == ((7,), 4)


def test_smallest_values_finds_smallest_candidate():
    space = CNNSpace((8, 8, 1), 10)
    hp = keras_tuner.HyperParameters()
    space.build(hp)
    values = smallest_values(space, hp)
    assert values["stages"] == 1 and values["filters_0"] == 4 and values["dense_units"] == 0
    assert values["batch_norm"] is False
    smallest = build_with(space, hp, values).count_params()
    default = space.build(keras_tuner.HyperParameters()).count_params()  # batch_norm on by default
    assert smallest < default


def test_custom_build_must_return_tf_keras():
    hm = as_hypermodel(lambda hp: "not a model")
    with pytest.raises(ModelError, match="tf_keras"):
        build_with(hm, keras_tuner.HyperParameters(), {})
    with pytest.raises(ConfigError):
        as_hypermodel(42)


def test_pareto_front_is_non_dominated():
    rng = np.random.default_rng(1)
    rows = [{"trial_id": str(i), "int8_bytes": int(rng.integers(1000, 9000)), "val_accuracy": float(rng.random())}
            for i in range(30)] + [{"trial_id": "r", "status": "REJECTED", "int8_bytes": 10}]
    front = pareto_front(rows)
    assert front and all(r.get("val_accuracy") is not None for r in front)
    for row in rows[:30]:
        dominated = any(o["int8_bytes"] <= row["int8_bytes"] and o["val_accuracy"] >= row["val_accuracy"]
                        and o is not row for o in rows[:30])
        assert any(f is row for f in front) == (not dominated)
    sizes = [r["int8_bytes"] for r in front]
    accs = [r["val_accuracy"] for r in front]
    assert sizes == sorted(sizes) and accs == sorted(accs)


def test_mnas_reward_prefers_smaller_at_equal_accuracy():
    assert mnas_reward(0.9, 1000, 1000) == pytest.approx(0.9)
    assert mnas_reward(0.9, 500, 1000) > 0.9 > mnas_reward(0.9, 2000, 1000)


def test_markdown_and_plot(tmp_path):
    rows = [{"trial_id": "0", "status": "COMPLETED", "val_accuracy": 0.8, "int8_bytes": 3000, "params": 200,
             "hyperparameters": {"depth": 1, "tuner/epochs": 2}},
            {"trial_id": "1", "status": "REJECTED", "int8_bytes": 90000, "hyperparameters": {"depth": 3}}]
    table = trials_markdown(rows, {"0"})
    assert table.count("\n") == 3 and "| 0* | COMPLETED" in table and "tuner/" not in table
    result = types.SimpleNamespace(trials=rows, pareto=pareto_front(rows), budget=Budget(max_bytes=5000))
    path = plot_pareto(result, str(tmp_path / "front.png"))
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["front.png"]  # no temporary file left
    (tmp_path / "ref.txt").write_text("")  # the plot gets the permissions of any file the user writes
    assert os.stat(path).st_mode & 0o777 == os.stat(tmp_path / "ref.txt").st_mode & 0o777


def test_board_presets_give_flash_and_ram_bounds():
    from tfcompress.errors import ConfigError
    from tfcompress.search.boards import BOARDS
    from tfcompress.search.budget import expand_budget

    b = Budget.from_config({"board": "stm32f746"})
    assert (b.max_bytes, b.max_arena_bytes) == (BOARDS["stm32f746"]["flash_bytes"], 320 * 1024)
    assert expand_budget({"board": "STM32-F746", "max_arena_bytes": 100000}) == {"max_bytes": 1024 * 1024,
                                                                                "max_arena_bytes": 100000}
    with pytest.raises(ConfigError, match="unknown board 'arduino'.*stm32f746"):
        Budget.from_config({"board": "arduino"})
    assert all(v["source"] and v["ram_bytes"] < v["flash_bytes"] * 4 for v in BOARDS.values())


def test_a_recipe_budget_may_name_a_board():
    from tfcompress.pipeline import Pipeline
    from tfcompress.pipeline.report import budget_check

    pipeline = Pipeline([], teacher="t.keras", budget={"board": "nrf52840"})
    assert pipeline.budget == {"max_bytes": 1024 * 1024, "max_arena_bytes": 256 * 1024}
    export = pipeline.get_config()["stages"][-1]["export"]
    assert export["format"] == "int8" and export["tflm"] is True  # the arena is measured
    check = budget_check({"budget": {"board": "nrf52840"}}, {"tflite_bytes": 5000, "arena_bytes": 3000})
    assert check["met"] and [c["key"] for c in check["checks"]] == ["max_bytes", "max_arena_bytes"]
