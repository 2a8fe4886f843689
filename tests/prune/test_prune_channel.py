"""The channel pruner: exact against zeroed channels, physically smaller (also as int8), options, errors."""

import numpy as np
import pytest

import channel_models as cm
from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.export import convert, inspect_tflite
from tfcompress.prune import (ChannelGraph, PruningPlan, channel_counts, group_counts, plan_channels,
                              prune_channels, zero_channels)

L = keras.layers

MODELS = {
    "mobilenet_v2": cm.mobilenet_v2,
    "mobilenet_v3_small": cm.mobilenet_v3_small,
    "resnet": cm.resnet,
    "se": cm.se_model,
    "dense_concat": cm.dense_concat,
    "depthwise_multiplier": cm.depthwise_multiplier,
    "sequential": cm.sequential_cnn,
    "mlp": cm.mlp,
}


def _run(model, x):
    return model(x, training=False).numpy()  # eager: no predict function to trace for a single call


def _close(a, b):
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pruned_model_computes_the_original_with_dropped_channels_zeroed(name):
    model = cm.randomise(MODELS[name]())
    graph = ChannelGraph(model)
    plan = cm.random_plan(graph)
    small = prune_channels(model, plan)
    zeroed = zero_channels(model, plan)
    x = cm.inputs_for(model)
    assert small.count_params() < model.count_params()
    assert small.output_shape == model.output_shape
    expected = _run(zeroed, x)
    _close(_run(small, x), expected)
    assert not np.allclose(expected, _run(model, x), atol=1e-4)  # channels were really dropped


@pytest.mark.parametrize("name", ["resnet", "dense_concat", "sequential"])
def test_keep_all_is_an_identical_copy_and_the_original_is_untouched(name):
    model = cm.randomise(MODELS[name]())
    weights = [w.copy() for w in model.get_weights()]
    same = prune_channels(model, keep_ratio=1.0)
    x = cm.inputs_for(model)
    assert same is not model and same.count_params() == model.count_params()
    _close(_run(same, x), _run(model, x))
    prune_channels(model, 0.5)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def test_tied_convs_feeding_an_add_keep_the_same_indices():
    model = cm.randomise(cm.resnet())
    plan = plan_channels(model, 0.5)
    assert ChannelGraph(model).groups_of("s1b0_conv2") == ["s1b0_proj"]  # named after its first-built member
    kept = plan.kept("s1b0_proj")
    small = prune_channels(model, plan)
    for conv in ("s1b0_proj", "s1b0_conv2", "s1b1_conv2"):  # all write the channels of one Add chain
        original = model.get_layer(conv).kernel.numpy()
        np.testing.assert_array_equal(small.get_layer(conv).kernel.numpy(), original[..., kept][:, :, _rows(
            plan, ChannelGraph(model), conv), :])
    np.testing.assert_array_equal(small.get_layer("s1b0_proj_bn").gamma.numpy(),
                                  model.get_layer("s1b0_proj_bn").gamma.numpy()[kept])
    assert small.get_layer("stem").kernel.shape[2] == 3  # the input channels are fixed
    assert small.get_layer("logits").units == 10  # so is the classifier


def _rows(plan, graph, conv):
    record = next(r for r in graph.records if r.layer.name == conv)
    return graph.kept_indices(record.in_layouts[0], {n: plan.kept(n) for n in plan.sizes})


def test_concatenation_segments_are_pruned_per_input():
    model = cm.randomise(cm.dense_concat())
    graph = ChannelGraph(model)
    plan = PruningPlan({"c0": [1, 2, 5, 7], "c1": [0, 4]}, {g.name: g.size for g in graph.groups.values()})
    small = prune_channels(model, plan)
    rows = [1, 2, 5, 7, 8 + 0, 8 + 4]
    np.testing.assert_array_equal(small.get_layer("cat_bn").gamma.numpy(), model.get_layer("cat_bn").gamma.numpy()[rows])
    np.testing.assert_array_equal(small.get_layer("transition").kernel.numpy()[0, 0],
                                  model.get_layer("transition").kernel.numpy()[0, 0][rows + list(range(14, 20))])
    assert group_counts(small)["c0"] == 4 and group_counts(small)["c2"] == 6


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet"])
def test_half_keep_ratio_shrinks_params_and_the_fully_integer_int8_file(name):
    model = MODELS[name]()
    small = prune_channels(model, keep_ratio=0.5)
    assert small.count_params() <= 0.40 * model.count_params()
    assert small.output_shape == model.output_shape
    x = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
    sizes = {}
    for key, m in (("original", model), ("pruned", small)):
        info = inspect_tflite(convert(m, "int8", representative_data=x, num_samples=16))
        assert info["is_fully_integer"], info["float_ops"]
        sizes[key] = info["file_bytes"]
    assert sizes["pruned"] <= 0.55 * sizes["original"], sizes


def test_layer_scope_halves_every_prunable_group_and_keeps_fixed_ones():
    model = cm.resnet()
    before, after = group_counts(model), group_counts(prune_channels(model, 0.5))
    graph = ChannelGraph(model)
    for name, group in graph.groups.items():
        assert after[name] == (-(-group.size // 2) if group.prunable else group.size), name


def test_global_scope_ranks_across_groups_and_respects_the_floor():
    model = cm.resnet()
    graph = ChannelGraph(model)
    kernel = model.get_layer("s2b0_conv1").kernel
    weights = np.full(kernel.shape, 1e-3, dtype="float32")
    weights[..., 0] = 1.0  # one dominant filter: normalised by the group's mean, all others look dead
    kernel.assign(weights)
    plan = plan_channels(model, 0.5, scope="global", min_channels=2)
    counts = plan.counts()
    assert counts["s2b0_conv1"] == max(2, int(np.ceil(0.1 * 64)))  # the floor, not 1
    assert plan.kept("s2b0_conv1")[0] == 0
    layer = plan_channels(model, 0.5).counts()
    assert layer["s2b0_conv1"] == 32
    pooled = [g.name for g in graph.prunable()]
    assert len({counts[g] / graph.groups[g].size for g in pooled}) > 1  # shares differ between groups
    total = sum(graph.groups[g].size for g in pooled)
    assert abs(sum(counts[g] for g in pooled) - 0.5 * total) <= 0.1 * total


def test_layer_ratios_name_a_group_by_any_member_and_divisor_rounds_up():
    model = cm.resnet()
    counts = plan_channels(model, 0.5, layer_ratios={"s0b1_bn2": 0.25, "s1b0_relu1": 1.0}, divisor=8).counts()
    assert counts["stem"] == 8  # s0b1_bn2 follows s0b1_conv2, tied to the stem: 16 * 0.25 = 4 -> 8
    assert counts["s1b0_conv1"] == 32  # named through its ReLU
    prunable = [g.name for g in ChannelGraph(model).prunable()]
    assert counts["s2b1_conv1"] == 32 and all(counts[g] % 8 == 0 for g in prunable)
    assert plan_channels(model, 0.01, min_channels=3).counts()["s0b0_conv1"] == 3
    with pytest.raises(ConfigError, match="both name group 'stem'"):
        plan_channels(model, 0.5, layer_ratios={"stem": 0.5, "s0b0_conv2": 0.75})
    with pytest.raises(ConfigError, match="cannot be pruned"):
        plan_channels(model, 0.5, layer_ratios={"logits": 0.5})


def test_exclude_keeps_the_group_and_old_options_still_work():
    model = cm.randomise(cm.sequential_cnn())
    small = prune_channels(model, keep_ratio=0.3, criterion="bn_gamma", layer_ratios={"dense": 0.5},
                           exclude=["conv0"], divisor=4)
    assert channel_counts(small) == {"conv0": 8, "dw": 16, "conv1": 4, "dense": 8, "logits": 4}
    assert channel_counts(prune_channels(model, 0.5, exclude="first_conv"))["conv0"] == 8


@pytest.mark.parametrize("kwargs,match", [
    ({"keep_ratio": 0.0}, "keep_ratio"), ({"keep_ratio": 1.5}, "keep_ratio"), ({"keep_ratio": True}, "keep_ratio"),
    ({"criterion": "l0"}, "'l1', 'l2'"), ({"scope": "model"}, "scope"), ({"exclude": ["nope"]}, "nope"),
    ({"layer_ratios": {"nope": 0.5}}, "nope"), ({"layer_ratios": {"conv1": 0}}, "conv1"),
    ({"min_channels": 0}, "min_channels"), ({"divisor": 2.5}, "divisor"),
])
def test_bad_arguments_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        prune_channels(cm.sequential_cnn(), **kwargs)


def test_a_plan_from_another_model_or_with_extra_options_is_refused():
    plan = plan_channels(cm.resnet(), 0.5)
    with pytest.raises(ConfigError, match="does not fit"):
        prune_channels(cm.resnet(widths=(8, 16, 32)), plan)
    with pytest.raises(ConfigError, match="divisor"):
        prune_channels(cm.resnet(), plan, divisor=4)
    assert PruningPlan.from_config(plan.get_config()) == plan
