"""Recipe validation: unknown names with line numbers and spelling hints, round trips, safety."""

import pytest
import yaml

from tfcompress.errors import ConfigError
from tfcompress.pipeline import Pipeline, parse_recipe, read_recipe, to_yaml, validate_recipe
from tfcompress.pipeline.recipe import _plain
from tfcompress.pipeline.registry import stage_names

HEAD = "teacher: teacher.keras\ndata: data.npz\noutput: out\n"


def _distill_available():
    return "distill" in stage_names()


def error_of(text):
    with pytest.raises(ConfigError) as info:
        parse_recipe(text, source="r.yaml")
    return str(info.value)


def test_valid_recipe_parses_and_appends_nothing():
    recipe = parse_recipe(HEAD + "stages:\n  - prune: {sparsity: 0.5, epochs: 1}\n  - quantize: {method: ptq}\n")
    assert [list(s)[0] for s in recipe["stages"]] == ["prune", "quantize"]


def test_unknown_stage_names_line_and_suggestion():
    msg = error_of(HEAD + "stages:\n  - prune: {sparsity: 0.5}\n  - quantise: {epochs: 1}\n")
    assert "r.yaml: line 6:" in msg
    assert "'quantise'" in msg and "did you mean 'quantize'" in msg


def test_unknown_option_names_its_own_line_and_suggestion():
    text = HEAD + "stages:\n  - prune:\n      method: magnitude\n      sparsty: 0.5\n"
    msg = error_of(text)
    assert "line 7:" in msg
    assert "'sparsty'" in msg and "did you mean 'sparsity'" in msg


def test_unknown_method_and_top_level_key():
    msg = error_of(HEAD + "stages:\n  - prune: {method: magnitud}\n")
    assert "line 5:" in msg and "did you mean 'magnitude'" in msg
    msg = error_of(HEAD + "learning_rat: 0.01\nstages: []\n")
    assert "line 4:" in msg and "did you mean 'learning_rate'" in msg


def test_bad_option_value_is_reported_with_stage_line():
    msg = error_of(HEAD + "stages:\n  - prune: {sparsity: 1.5}\n")
    assert "line 5:" in msg and "sparsity" in msg


def test_missing_paths_and_bad_student():
    assert "lacks teacher" in error_of("data: d.npz\noutput: o\nstages: []\n")
    msg = error_of(HEAD + "student: {family: cnn, filtres: [4]}\nstages: []\n")
    assert "line 4:" in msg and "did you mean 'filters'" in msg


def test_yaml_tags_never_execute(tmp_path):
    marker = tmp_path / "ran"
    text = HEAD + f"seed: !!python/object/apply:os.system ['touch {marker}']\nstages: []\n"
    assert "not valid YAML" in error_of(text)
    assert not marker.exists()


def test_distill_needs_a_student_and_empty_options_are_valid():
    if not _distill_available():
        pytest.skip("the distill stage is not registered in this checkout")
    msg = error_of(HEAD + "stages:\n  - distill: {}\n")
    assert "line 5:" in msg and "add `student:` or a `search` stage" in msg
    recipe = parse_recipe(HEAD + "student: {family: mlp, units: [8]}\nstages:\n  - distill: {}\n")
    assert recipe["stages"] == [{"distill": {}}]
    assert parse_recipe(HEAD + "stages:\n  - search: {max_trials: 2}\n  - distill:\n")["stages"][1] == {"distill": None}


def test_pipeline_config_round_trip_and_is_a_recipe(tmp_path):
    pipeline = Pipeline([{"prune": {"sparsity": 0.25, "epochs": 1}}, {"quantize": {"method": "qat", "epochs": 1}}],
                        teacher="teacher.keras", data="data.npz", output="out",
                        student={"family": "mlp", "units": [8]}, seed=3, latency_runs=5)
    config = pipeline.get_config()
    assert list(config["stages"][-1]) == ["export"]  # an int8 export is appended
    assert config["stages"][0]["prune"]["method"] == "magnitude"
    again = Pipeline.from_config(config)
    assert _plain(again.get_config()) == _plain(config)
    # get_config() written as YAML is a valid recipe that gives the same pipeline
    path = tmp_path / "recipe.yaml"
    path.write_text(to_yaml(config))
    recipe = read_recipe(str(path))
    assert recipe["teacher"] == str(tmp_path / "teacher.keras")  # relative to the recipe's folder
    assert _plain(Pipeline.from_config(recipe).get_config()["stages"]) == _plain(config["stages"])
    assert yaml.safe_load(path.read_text())["seed"] == 3


def test_pipeline_rejects_bad_entries():
    with pytest.raises(ConfigError, match="did you mean 'prune'"):
        Pipeline([{"prun": {}}], teacher="t.keras")
    with pytest.raises(ConfigError, match="one-key"):
        Pipeline(["prune"], teacher="t.keras")
    validate_recipe({"stages": [{"export": None}]}, require_paths=False)


def test_every_registered_stage_round_trips_through_a_yaml_recipe():
    from tfcompress.pipeline.pipeline import stage_entry
    from tfcompress.stage import registered_stages

    assert set(stage_names()) >= {"search", "distill", "feature_distill", "prune", "cluster", "factorize",
                                  "quantize", "export"}
    for (name, method), cls in registered_stages().items():
        entry = stage_entry(cls())  # every stage has defaults for all options
        text = HEAD + "student: s.keras\nstages:\n" + to_yaml({"stages": [entry]}).split("\n", 1)[1]
        recipe = parse_recipe(text)
        rebuilt = Pipeline.from_config(recipe).stages[0]
        assert type(rebuilt) is cls, (name, method)
        assert _plain(stage_entry(rebuilt)) == _plain(entry), (name, method)


def test_data_free_flag_selects_the_data_free_distill_stage():
    from tfcompress.distill import DataFreeDistill, Distill
    from tfcompress.pipeline.pipeline import _as_stage

    assert isinstance(_as_stage({"distill": {"data_free": True, "epochs": 1}}), DataFreeDistill)
    assert isinstance(_as_stage({"distill": {"data_free": False}}), Distill)
    assert type(_as_stage({"distill": {}})) is Distill


def test_get_config_keeps_paths_and_student_specs_but_not_in_memory_data():
    import numpy as np

    from tfcompress.pipeline import Pipeline

    data = {"x_train": np.zeros((4, 3)), "y_train": np.zeros(4), "x_val": np.zeros((2, 3)), "y_val": np.zeros(2)}
    config = Pipeline([{"distill": {}}], teacher="t.keras", student={"family": "mlp"}, data=data).get_config()
    assert "data" not in config
    assert config["teacher"] == "t.keras" and config["student"] == {"family": "mlp"}
