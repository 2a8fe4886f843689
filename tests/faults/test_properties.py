"""Property-based tests (hypothesis): the recipe parser and the data checks fail only with their own errors."""

import numpy as np
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfcompress.data import check_arrays, check_labels
from tfcompress.errors import ConfigError, DataError, ShapeError
from tfcompress.export import FORMATS
from tfcompress.pipeline.recipe import TOP_LEVEL_KEYS, parse_recipe, to_yaml, validate_recipe

SETTINGS = settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12))
keys = st.one_of(st.sampled_from(TOP_LEVEL_KEYS + ("distill", "prune", "export", "quantize", "search", "epochs",
                                                   "sparsity", "method", "format", "family", "budget")),
                 st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=3)), max_leaves=12)
yaml_chars = st.sampled_from(list("abc :-{}[],'\"!&*#|>%@`\n\t 0123456789.") + ["stages", "prune", "!!python/"])


@SETTINGS
@given(st.text(max_size=200))
@example("?")  # YAML for {None: None}: a null key once crashed the spelling hint
def test_parser_raises_only_config_error_on_any_text(text):
    try:
        recipe = parse_recipe(text, require_paths=False)
    except ConfigError:
        return
    assert isinstance(recipe, dict)


@SETTINGS
@given(st.lists(yaml_chars, max_size=60).map("".join))
def test_parser_raises_only_config_error_on_yaml_ish_text(text):
    try:
        parse_recipe(text, require_paths=False)
    except ConfigError:
        pass


@SETTINGS
@given(st.dictionaries(keys, values, max_size=5))
def test_validate_raises_only_config_error_on_any_dict(recipe):
    try:
        validate_recipe(recipe, require_paths=False)
    except ConfigError:
        pass


@SETTINGS
@given(st.lists(st.dictionaries(keys, values, min_size=1, max_size=1), max_size=4),
       st.dictionaries(keys, values, max_size=3))
def test_validate_raises_only_config_error_on_any_stage_list(stages, student):
    recipe = {"stages": stages, "student": {"family": "cnn", **student}}
    try:
        validate_recipe(recipe, require_paths=False)
    except ConfigError:
        pass


positive = st.floats(1e-6, 1.0, allow_nan=False)
valid_stage = st.one_of(
    st.fixed_dictionaries({"distill": st.fixed_dictionaries({}, optional={
        "epochs": st.integers(0, 50), "alpha": st.floats(0, 1), "temperature": st.floats(0.5, 20),
        "learning_rate": positive, "batch_size": st.integers(1, 512),
        "loss": st.sampled_from(["kl", "standardized_kl", "dkd"])})}),
    st.fixed_dictionaries({"prune": st.fixed_dictionaries({}, optional={
        "sparsity": st.floats(0, 0.99), "epochs": st.integers(1, 10)})}),
    st.fixed_dictionaries({"quantize": st.fixed_dictionaries({}, optional={"epochs": st.integers(0, 10)})}),
)
valid_recipe = st.fixed_dictionaries(
    {"teacher": st.just("teacher.keras"), "data": st.just("data.npz"), "output": st.just("out"),
     "student": st.fixed_dictionaries({"family": st.just("cnn")}),
     "stages": st.lists(valid_stage, max_size=4).flatmap(
         lambda s: st.sampled_from(FORMATS).map(lambda f: s + [{"export": {"format": f}}]))},
    optional={"seed": st.integers(0, 2**31), "batch_size": st.integers(1, 1024), "learning_rate": positive,
              "latency_runs": st.integers(0, 500)})


@SETTINGS
@given(valid_recipe)
def test_every_valid_recipe_is_accepted_and_round_trips_through_yaml(recipe):
    text = to_yaml(recipe)
    assert parse_recipe(text) == recipe
    assert yaml.safe_load(text) == recipe


array_dtypes = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(),
                         hnp.boolean_dtypes(), hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(max_len=3),
                         hnp.datetime64_dtypes())
any_array = hnp.arrays(array_dtypes, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))


@SETTINGS
@given(any_array, any_array, st.one_of(st.none(), st.integers(1, 12)),
       st.one_of(st.none(), hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
def test_check_arrays_raises_only_data_or_shape_error(x, y, num_classes, input_shape):
    try:
        check_arrays(x, y, num_classes=num_classes, input_shape=input_shape)
    except (DataError, ShapeError):
        pass


@SETTINGS
@given(any_array, st.one_of(st.none(), st.integers(1, 12)))
def test_check_labels_raises_only_data_or_shape_error(y, num_classes):
    try:
        check_labels(y, num_classes=num_classes)
    except (DataError, ShapeError):
        pass


@SETTINGS
@given(st.integers(1, 30), st.integers(2, 10), st.sampled_from(["float32", "float64", "int8", "uint8"]),
       st.sampled_from(["sparse", "column", "one_hot"]), st.data())
def test_valid_arrays_are_accepted(n, classes, dtype, label_kind, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    x = data.draw(hnp.arrays(dtype, (n,) + shape, elements={"allow_nan": False, "allow_infinity": False}
                             if dtype.startswith("float") else None))
    ids = np.asarray(data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    y = {"sparse": ids, "column": ids.reshape(-1, 1), "one_hot": np.eye(classes)[ids]}[label_kind]
    check_arrays(x, y, num_classes=classes, input_shape=shape)
    check_labels(y, num_classes=classes)
