"""A recipe with ``budget:`` and no ``stages:`` runs the default stages (search → distill → qat → export)."""

import pytest

from tfcompress.errors import ConfigError
from tfcompress.pipeline import Pipeline, parse_recipe, validate_recipe
from tfcompress.pipeline.defaults import default_stages

HEAD = "teacher: t.keras\ndata: d.npz\noutput: out\n"


def test_budget_without_stages_gives_the_default_stages():
    recipe = parse_recipe(HEAD + "budget: {max_bytes: 12000}\n")
    pipeline = Pipeline.from_config(recipe)
    assert [s.name for s in pipeline.stages] == ["search", "distill", "quantize", "export"]
    search = pipeline.stages[0]
    assert search.budget == {"max_bytes": 12000}
    assert search.reward is None and search.max_trials == 16 and search.min_fill == 0.6
    assert pipeline.stages[2].method == "qat" and pipeline.stages[3].format == "int8"


def test_default_pipeline_round_trips_through_its_config():
    pipeline = Pipeline([], teacher="t.keras", budget={"max_bytes": 9000})
    config = pipeline.get_config()
    assert config["budget"] == {"max_bytes": 9000}
    again = Pipeline.from_config(config)
    assert again.get_config() == config


def test_budget_fills_search_stages_without_one():
    pipeline = Pipeline([{"search": {"max_trials": 2}}, {"distill": {"epochs": 1}}], teacher="t.keras",
                        budget={"max_params": 5000})
    assert pipeline.stages[0].budget == {"max_params": 5000}
    kept = Pipeline([{"search": {"budget": {"max_bytes": 1}}}], budget={"max_bytes": 2})
    assert kept.stages[0].budget == {"max_bytes": 1}


def test_params_only_budget_drops_the_byte_floor():
    (search, *_rest) = default_stages({"max_params": 4000})
    assert search["search"]["reward"] is None and search["search"]["min_fill"] is None
    validate_recipe({"budget": {"max_params": 4000}}, require_paths=False)


@pytest.mark.parametrize("budget", ["12000", {}, {"max_byte": 12000}])
def test_invalid_budget_is_named_with_its_line(budget):
    with pytest.raises(ConfigError, match="line 4: budget"):
        parse_recipe(HEAD + f"budget: {budget!r}\n".replace("'", ""))
