"""Stage options are checked when the stage is built (``__init__``, hence ``from_config`` and the recipe reader).

A bad value is refused with a ConfigError "<stage>: <option> must be <what>, received <value>." before any
stage trains, instead of failing inside ``apply()`` after earlier stages have already run. No training here.
"""

import inspect
import math
import re

import pytest

from tfcompress.distill.data_free import DataFreeDistill
from tfcompress.errors import ConfigError
from tfcompress.lowrank.stages import PCAFactorize, SVDFactorize
from tfcompress.pipeline import parse_recipe
from tfcompress.pipeline.export_stage import ExportStage
from tfcompress.pipeline.registry import load_stages
from tfcompress.prune import ChannelPruning, GradientPruning, MagnitudePruning, MbyNPruning
from tfcompress.quantize.stages import ClusterPreservingQAT, PrunePreservingQAT, QuantizeAwareTraining, WeightClustering
from tfcompress.stage import check_choice, check_number, registered_stages, stage_label

HEAD = "teacher: teacher.keras\ndata: data.npz\noutput: out\nstudent: s.keras\n"

# (stage class, bad options, the option the message must name)
BAD = [
    # prune (magnitude): schedule values
    (MagnitudePruning, {"sparsity": 1.0}, "sparsity"),
    (MagnitudePruning, {"sparsity": "half"}, "sparsity"),
    (MagnitudePruning, {"epochs": True}, "epochs"),
    (MagnitudePruning, {"schedule": "linear"}, "schedule"),
    (MagnitudePruning, {"initial_sparsity": -0.1}, "initial_sparsity"),
    (MagnitudePruning, {"initial_sparsity": 1.0}, "initial_sparsity"),
    (MagnitudePruning, {"end_fraction": 0}, "end_fraction"),
    (MagnitudePruning, {"end_fraction": 1.5}, "end_fraction"),
    (MagnitudePruning, {"end_fraction": "0.5"}, "end_fraction"),
    (MagnitudePruning, {"updates": 0}, "updates"),
    (MagnitudePruning, {"updates": 2.5}, "updates"),
    (MagnitudePruning, {"updates": True}, "updates"),
    (MagnitudePruning, {"layer_sparsity": {"dense": 1.2}}, "layer_sparsity"),
    (MagnitudePruning, {"layer_sparsity": [0.5]}, "layer_sparsity"),
    (MagnitudePruning, {"exclude": [3]}, "exclude"),
    (MagnitudePruning, {"learning_rate": 0}, "learning_rate"),
    # prune (m_by_n)
    (MbyNPruning, {"m_by_n": (4, 2)}, "m_by_n"),
    (MbyNPruning, {"m_by_n": (0, 4)}, "m_by_n"),
    (MbyNPruning, {"m_by_n": (1.5, 4)}, "m_by_n"),
    (MbyNPruning, {"m_by_n": (True, 4)}, "m_by_n"),
    (MbyNPruning, {"m_by_n": "24"}, "m_by_n"),
    (MbyNPruning, {"m_by_n": [2, 4, 8]}, "m_by_n"),
    (MbyNPruning, {"epochs": 0}, "epochs"),
    (MbyNPruning, {"exclude": {"a": 1}}, "exclude"),
    (MbyNPruning, {"learning_rate": -1e-3}, "learning_rate"),
    # prune (gradient): criterion names and the rest
    (GradientPruning, {"criterion": "hessian"}, "criterion"),
    (GradientPruning, {"criterion": ["taylor"]}, "criterion"),
    (GradientPruning, {"scope": "model"}, "scope"),
    (GradientPruning, {"sparsity": -0.5}, "sparsity"),
    (GradientPruning, {"batches": 0}, "batches"),
    (GradientPruning, {"batches": 2.0}, "batches"),
    (GradientPruning, {"epochs": -1}, "epochs"),
    (GradientPruning, {"layer_sparsity": {"conv1": "high"}}, "layer_sparsity"),
    (GradientPruning, {"learning_rate": "fast"}, "learning_rate"),
    # prune (channel): fraction kept and the rest
    (ChannelPruning, {"keep_ratio": 0}, "keep_ratio"),
    (ChannelPruning, {"keep_ratio": 1.5}, "keep_ratio"),
    (ChannelPruning, {"criterion": "l3"}, "criterion"),
    (ChannelPruning, {"layer_ratios": {"conv1": 0.0}}, "layer_ratios"),
    (ChannelPruning, {"layer_ratios": {1: 0.5}}, "layer_ratios"),
    (ChannelPruning, {"min_channels": True}, "min_channels"),
    (ChannelPruning, {"divisor": 0}, "divisor"),
    (ChannelPruning, {"exclude": [None]}, "exclude"),
    (ChannelPruning, {"learning_rate": float("nan")}, "learning_rate"),
    (ChannelPruning, {"criterion": "taylr"}, "criterion"),
    (ChannelPruning, {"scope": "model"}, "scope"),
    (ChannelPruning, {"budget": {"max_size": 1000}}, "budget"),
    (ChannelPruning, {"budget": {}}, "budget"),
    (ChannelPruning, {"budget": 60000}, "budget"),
    (ChannelPruning, {"budget": {"max_bytes": 0}}, "budget"),
    (ChannelPruning, {"budget": {"max_bytes": 1.5e4}}, "budget"),
    (ChannelPruning, {"budget": {"max_params_share": 1.5}}, "budget"),
    (ChannelPruning, {"recalibrate_bn": "yes"}, "recalibrate_bn"),
    # quantize
    (QuantizeAwareTraining, {"epochs": 1.5}, "epochs"),
    (PrunePreservingQAT, {"learning_rate": float("nan")}, "learning_rate"),
    (ClusterPreservingQAT, {"skip_layers": "conv0"}, "skip_layers"),
    # cluster: number of clusters, init method, flags
    (WeightClustering, {"number_of_clusters": 1}, "number_of_clusters"),
    (WeightClustering, {"number_of_clusters": 8.0}, "number_of_clusters"),
    (WeightClustering, {"number_of_clusters": 2, "preserve_sparsity": True}, "number_of_clusters"),
    (WeightClustering, {"init": "kmeans"}, "init"),
    (WeightClustering, {"init": ["linear"]}, "init"),
    (WeightClustering, {"skip_first": "no"}, "skip_first"),
    (WeightClustering, {"skip_last": 1}, "skip_last"),
    (WeightClustering, {"preserve_sparsity": "false"}, "preserve_sparsity"),
    # factorize: rank / energy / target / mode flags
    (SVDFactorize, {"energy": 0}, "energy"),
    (SVDFactorize, {"energy": 1.5}, "energy"),
    (SVDFactorize, {"energy": True}, "energy"),
    (SVDFactorize, {"rank": 0}, "rank"),
    (SVDFactorize, {"rank": 2.5}, "rank"),
    (SVDFactorize, {"rank": {"dense0": 0}}, "rank"),
    (SVDFactorize, {"rank": {"dense0": True}}, "rank"),
    (SVDFactorize, {"target": 1.5}, "target"),
    (SVDFactorize, {"target": 0}, "target"),
    (SVDFactorize, {"target": "half"}, "target"),
    (SVDFactorize, {"conv_mode": "diagonal"}, "conv_mode"),
    (SVDFactorize, {"only_if_smaller": "yes"}, "only_if_smaller"),
    (SVDFactorize, {"learning_rate": True}, "learning_rate"),
    (SVDFactorize, {"layers": "dense0"}, "layers"),
    (PCAFactorize, {"source": "both"}, "source"),
    (PCAFactorize, {"conv_mode": "spatial"}, "conv_mode"),
    (PCAFactorize, {"num_batches": 0}, "num_batches"),
    (PCAFactorize, {"only_if_smaller": None}, "only_if_smaller"),
    (PCAFactorize, {"target": -3}, "target"),
    # distill (data_free): loss weights, latent_dim, steps_per_epoch, input_range, rates, student_steps
    (DataFreeDistill, {"one_hot_weight": -1.0}, "one_hot_weight"),
    (DataFreeDistill, {"activation_weight": "0.1"}, "activation_weight"),
    (DataFreeDistill, {"entropy_weight": float("nan")}, "entropy_weight"),
    (DataFreeDistill, {"bn_weight": -0.5}, "bn_weight"),
    (DataFreeDistill, {"adversarial_weight": None}, "adversarial_weight"),
    (DataFreeDistill, {"latent_dim": 0}, "latent_dim"),
    (DataFreeDistill, {"latent_dim": 8.5}, "latent_dim"),
    (DataFreeDistill, {"steps_per_epoch": 0}, "steps_per_epoch"),
    (DataFreeDistill, {"steps_per_epoch": "50"}, "steps_per_epoch"),
    (DataFreeDistill, {"epochs": -1}, "epochs"),
    (DataFreeDistill, {"epochs": 2.5}, "epochs"),
    (DataFreeDistill, {"batch_size": 1}, "batch_size"),
    (DataFreeDistill, {"batch_size": None}, "batch_size"),
    (DataFreeDistill, {"input_range": [1, 0]}, "input_range"),
    (DataFreeDistill, {"input_range": "01"}, "input_range"),
    (DataFreeDistill, {"input_range": [0, 1, 2]}, "input_range"),
    (DataFreeDistill, {"input_range": [0, "1"]}, "input_range"),
    (DataFreeDistill, {"generator_learning_rate": 0}, "generator_learning_rate"),
    (DataFreeDistill, {"generator_learning_rate": None}, "generator_learning_rate"),
    (DataFreeDistill, {"learning_rate": -1e-2}, "learning_rate"),
    (DataFreeDistill, {"temperature": 0}, "temperature"),
    (DataFreeDistill, {"student_steps": 0}, "student_steps"),
    (DataFreeDistill, {"student_steps": True}, "student_steps"),
    # export: the TFLite Micro check is a flag
    (ExportStage, {"tflm": "yes"}, "tflm"),
    (ExportStage, {"tflm": 1}, "tflm"),
    (ExportStage, {"format": "mixed", "tolerance": 1}, "tolerance"),
    (ExportStage, {"tolerance": "small"}, "tolerance"),
]

# Edge values that were valid before these checks and must stay valid.
VALID = [
    (MagnitudePruning, {"sparsity": 0.0, "initial_sparsity": 0.9, "end_fraction": 1.0, "updates": 4.0,
                        "layer_sparsity": {"dense": 0}, "exclude": "first_conv", "learning_rate": 1e-4}),
    (MagnitudePruning, {"schedule": "constant", "exclude": None, "updates": None, "layer_sparsity": {}}),
    (MbyNPruning, {"m_by_n": [1, 4], "exclude": []}),
    (MbyNPruning, {"m_by_n": (2.0, 4.0)}),
    (GradientPruning, {"epochs": 0, "criterion": "movement", "scope": "layer", "layer_sparsity": {"a": 0.5}}),
    (ChannelPruning, {"keep_ratio": 1, "criterion": "bn_gamma", "layer_ratios": {"conv1": 1.0}, "exclude": "conv0"}),
    (ChannelPruning, {"criterion": "taylor", "scope": "global", "budget": {"max_params": 1, "max_params_share": 1},
                      "recalibrate_bn": False}),
    (QuantizeAwareTraining, {"epochs": 0, "learning_rate": 1, "skip_layers": ("a",)}),
    (WeightClustering, {"skip_layers": {"conv0"}}),  # any list, tuple or set of names, as before
    (WeightClustering, {"number_of_clusters": 3, "preserve_sparsity": True, "init": "density-based",
                        "skip_first": True, "skip_last": False}),
    (WeightClustering, {"number_of_clusters": 2, "init": "random"}),
    (SVDFactorize, {"energy": 1}),
    (SVDFactorize, {"rank": {"dense0": 4}, "only_if_smaller": False, "conv_mode": "none"}),
    (SVDFactorize, {"target": 1000}),
    (SVDFactorize, {"target": 0.5, "conv_mode": "spatial"}),
    (PCAFactorize, {"rank": 3, "source": "inputs", "num_batches": 1}),
    (DataFreeDistill, {"input_range": None, "learning_rate": None, "bn_weight": 0, "adversarial_weight": 0.5,
                       "epochs": 0, "batch_size": 2, "latent_dim": 1, "student_steps": 3}),
    (DataFreeDistill, {"input_range": [-1, 1], "one_hot_weight": 0.0, "entropy_weight": 10}),
    (ExportStage, {"format": "int16x8", "tflm": True, "c_array": True}),
    (ExportStage, {"format": "mixed", "tolerance": 0}),
]


def _id(case):
    cls, options = case[0], case[1]
    return f"{cls.__name__}-{'-'.join(f'{k}={v!r}' for k, v in options.items())}"


@pytest.mark.parametrize("cls,options,option", BAD, ids=[_id(c) for c in BAD])
def test_bad_option_is_refused_at_construction(cls, options, option):
    with pytest.raises(ConfigError, match=option) as info:
        cls(**options)
    message = str(info.value)
    assert message.startswith(f"{stage_label(cls)}: {option}"), message  # names the stage, then the option
    value = options[option]
    received = [value] + (list(value.values()) if isinstance(value, dict) else [])  # a mapping names its entry
    assert "must be" in message and any(f"received {v!r}" in message for v in received), message
    with pytest.raises(ConfigError, match=option):  # what the recipe reader and Pipeline.from_config call
        cls.from_config(options)


@pytest.mark.parametrize("cls,options", VALID, ids=[_id(c) for c in VALID])
def test_valid_options_still_construct_unchanged(cls, options):
    stage = cls(**options)
    config = stage.get_config()
    for key, value in options.items():
        assert config[key] == value and type(config[key]) is type(value)  # stored as given
    assert cls.from_config(config).get_config() == config


def _probes(default):
    """Values of the wrong kind for an option with this default (a number, a flag or a choice name)."""
    if isinstance(default, bool):
        return ["no", 0]
    if isinstance(default, (int, float)):
        return ["1", True, -1, math.nan]
    if isinstance(default, str):
        return ["no_such_choice"]
    return []


def _option_cases():
    load_stages()
    cases = []
    for (name, method), cls in sorted(registered_stages().items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        for option, param in inspect.signature(cls.__init__).parameters.items():
            for value in _probes(param.default) if option != "self" else []:
                cases.append(pytest.param(cls, option, value,
                                          id=f"{stage_label(cls)}-{option}={value!r}"))
    return cases


@pytest.mark.parametrize("cls,option,value", _option_cases())
def test_every_registered_stage_refuses_wrong_kinds_for_its_number_flag_and_choice_options(cls, option, value):
    """Numbers refuse text, bools, negatives and NaN; flags refuse text and 0; choices refuse unknown names."""
    with pytest.raises(ConfigError, match=option):
        cls(**{option: value})


@pytest.mark.parametrize("stage,line,option,value", [
    ("prune:\n      method: magnitude\n      end_fraction: 0\n", 9, "end_fraction", "0"),
    ("prune: {method: m_by_n, m_by_n: [4, 2]}\n", 7, "m_by_n", "[4, 2]"),
    ("prune: {method: gradient, criterion: hessian}\n", 7, "criterion", "'hessian'"),
    ("prune: {method: channel, keep_ratio: 2}\n", 7, "keep_ratio", "2"),
    ("cluster: {init: kmeans}\n", 7, "init", "'kmeans'"),
    ("factorize: {method: pca, only_if_smaller: maybe}\n", 7, "only_if_smaller", "'maybe'"),
    ("factorize: {rank: {dense0: 0}}\n", 7, "rank", "0"),
    ("distill:\n      data_free: true\n      epochs: 1\n      latent_dim: -4\n", 10, "latent_dim", "-4"),
    ("distill: {method: data_free, input_range: [1, 0]}\n", 7, "input_range", "[1, 0]"),
])
def test_recipe_with_a_bad_option_fails_when_read_naming_stage_option_and_line(stage, line, option, value):
    """The bad stage comes after a training stage: the recipe is refused when read, so nothing trains."""
    with pytest.raises(ConfigError) as info:
        parse_recipe(HEAD + "stages:\n  - quantize: {epochs: 1}\n  - " + stage, source="r.yaml")
    message = str(info.value)
    # the line of the option (or of its stage), the stage named once, then the option and the value
    assert re.match(rf"r\.yaml: line {line}: stage '\w+' \(method \w+\): {option}\b", message), message
    assert f"received {value}" in message, message


def test_recipe_with_valid_values_of_the_checked_options_parses():
    stages = ["prune: {method: magnitude, end_fraction: 1.0, initial_sparsity: 0.1, updates: 5}",
              "prune: {method: m_by_n, m_by_n: [1, 4]}", "prune: {method: gradient, criterion: movement}",
              "prune: {method: channel, keep_ratio: 1, layer_ratios: {conv1: 0.5}}",
              "prune: {method: channel, scope: global, budget: {max_bytes: 60000}, recalibrate_bn: false}",
              "cluster: {init: linear, number_of_clusters: 3, preserve_sparsity: true}",
              "factorize: {method: pca, only_if_smaller: false, rank: {dense0: 2}}",
              "distill: {data_free: true, latent_dim: 4, input_range: [-1, 1], bn_weight: 0}"]
    recipe = parse_recipe(HEAD + "stages:\n" + "".join(f"  - {s}\n" for s in stages))
    assert len(recipe["stages"]) == len(stages)


def test_helpers_word_their_messages():
    with pytest.raises(ConfigError, match=r"^prune \(magnitude\): updates must be an integer >= 1 \(or null for "
                                          r"about 10\), received 0\.$"):
        check_number(MagnitudePruning, "updates", 0, 1, integer=True, none="about 10")
    with pytest.raises(ConfigError, match=r"^export: num_samples must be a number in \(0, 1\], received 2\.$"):
        check_number("export", "num_samples", 2, 0, 1, low_open=True)
    with pytest.raises(ConfigError, match=r"must be one of 'taylor', 'movement', received 'tailor' "
                                          r"\(did you mean 'taylor'\?\)\.$"):
        check_choice(GradientPruning, "criterion", "tailor", ("taylor", "movement"))
    assert check_number("x", "y", None, 0, none="the default") is None
