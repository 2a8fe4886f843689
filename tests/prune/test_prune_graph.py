"""ChannelGraph: which channels are tied (Add, SE gates, concatenations, depthwise), which groups are fixed, and
which layers are refused before any work."""

import numpy as np
import pytest

from channel_models import dense_concat, depthwise_multiplier, mobilenet_v3_small, resnet, se_model
from tfcompress._keras import keras, tf
from tfcompress.errors import ConfigError, ModelError
from tfcompress.prune import ChannelGraph, prune_channels

L = keras.layers


def test_add_ties_both_branches_and_shortcuts_of_a_stage():
    graph = ChannelGraph(resnet())
    stage0 = graph.groups_of("stem")
    assert stage0 == graph.groups_of("s0b0_conv2") == graph.groups_of("s0b1_conv2") == graph.groups_of("s0b1_add")
    assert graph.groups_of("s1b0_proj") == graph.groups_of("s1b0_conv2") == graph.groups_of("s1b1_conv2")
    assert graph.groups_of("s1b0_proj") != stage0  # a projection shortcut starts a new channel space
    assert graph.groups_of("s0b0_conv1") != stage0  # the block's inner conv is its own group
    group = graph.groups[stage0[0]]
    assert set(group.producers) == {"stem", "s0b0_conv2", "s0b1_conv2"}
    assert {"s0b0_conv1", "s0b1_conv1", "s1b0_proj", "s1b0_conv1"} <= set(group.consumers)


def test_input_and_classifier_groups_are_fixed():
    graph = ChannelGraph(resnet())
    first = graph.groups[graph.groups_of(graph.model.layers[0].name)[0]]  # the InputLayer
    assert first.size == 3 and first.consumers == ("stem",) and "input" in first.fixed
    logits = graph.groups[graph.groups_of("logits")[0]]
    assert not logits.prunable and "output" in logits.fixed
    assert all(g.prunable for g in graph.prunable()) and len(graph.prunable()) == 3 + 6  # 3 stages, 6 inner convs


def test_se_gate_expand_conv_is_tied_to_the_feature_map():
    graph = ChannelGraph(se_model())
    assert graph.groups_of("se_expand") == graph.groups_of("feat") == graph.groups_of("se_gate")
    assert graph.groups_of("se_reduce") != graph.groups_of("feat")
    assert set(graph.groups["feat"].producers) == {"feat", "se_expand"}


def test_concatenation_is_a_sequence_of_its_inputs_segments():
    graph = ChannelGraph(dense_concat())
    assert graph.layer_layouts["cat1"] == (("c0", 1), ("c1", 1))
    assert graph.layer_layouts["cat2"] == (("c0", 1), ("c1", 1), ("c2", 1))
    assert graph.groups_of("cat_bn") == ["c0", "c1"]
    with pytest.raises(ConfigError, match="cat_bn"):
        graph.group_by_member("cat_bn")  # a BN after a concatenation spans two groups
    keep = {"c0": np.array([1, 3]), "c1": np.array([0])}
    np.testing.assert_array_equal(graph.kept_indices(graph.layer_layouts["cat2"], keep),
                                  [1, 3, 8, 14, 15, 16, 17, 18, 19])


def test_depthwise_multiplier_and_flatten_expand_the_layout():
    graph = ChannelGraph(depthwise_multiplier())
    assert graph.layer_layouts["dw"] == (("c0", 2),)
    assert graph.groups_of("dw") == ["c0"]
    assert graph.layer_layouts["flat"] == (("sep", 1),) * 16  # 4 x 4 positions after pooling
    np.testing.assert_array_equal(graph.kept_indices(graph.layer_layouts["dw"], {"c0": np.array([0, 5])}),
                                  [0, 1, 10, 11])


def test_hard_swish_tf_ops_of_mobilenet_v3_pass_channels_through():
    graph = ChannelGraph(mobilenet_v3_small())
    tf_ops = [r for r in graph.records if r.layer.name.startswith("tf.")]  # names depend on the session
    assert len(tf_ops) == 56 and {r.rule.kind for r in tf_ops} == {"pass"}  # x + 3.0 and x * (1 / 6)
    first_swish = next(r for r in graph.records if type(r.layer).__name__ == "Multiply")
    assert first_swish.out_layout == (("Conv", 1),)  # x * relu6(x + 3) / 6 keeps x's channels
    assert graph.groups_of("expanded_conv/squeeze_excite/Conv_1") == graph.groups_of("Conv")
    assert len(graph.prunable()) > 20


def test_tf_op_with_two_tensors_ties_them_and_a_per_channel_constant_fixes():
    inputs = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 1, name="a")(inputs)
    b = L.Conv2D(4, 1, name="b")(inputs)
    c = L.Conv2D(4, 1, name="c")(inputs)
    y = L.Concatenate(name="cat")([a * b, c * tf.constant([1.0, 2.0, 3.0, 4.0])])
    graph = ChannelGraph(keras.Model(inputs, L.Dense(2, name="head")(L.Flatten()(y))))
    tied = graph.groups_of("a")
    assert tied == graph.groups_of("b") and graph.groups[tied[0]].prunable
    assert [r.rule.kind for r in graph.records if r.layer.name.startswith("tf.")] in (["merge", "fix"], ["fix", "merge"])
    assert graph.groups_of("c") != tied and "per-channel constant" in graph.groups["c"].fixed


def test_layer_norm_reshape_and_broadcast_fix_their_groups():
    inputs = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 1, name="a")(inputs)
    ln = L.LayerNormalization(name="ln")(L.Conv2D(4, 1, name="b")(inputs))
    mask = L.Conv2D(1, 1, activation="sigmoid", name="mask")(inputs)
    gated = L.Multiply(name="spatial")([a, mask])  # (8, 8, 1) broadcast over the channels of a
    r = L.Reshape((8, 4, 8), name="moves")(L.Conv2D(4, 1, name="c")(inputs))
    flat = L.Concatenate(name="cat")([L.Flatten()(gated), L.Flatten()(ln), L.Flatten()(r)])
    graph = ChannelGraph(keras.Model(inputs, L.Dense(2, name="head")(flat)))
    assert graph.groups["a"].prunable
    assert "LayerNormalization" in graph.groups["b"].fixed
    assert "broadcast" in graph.groups["mask"].fixed
    assert "reshapes the channel axis" in graph.groups["c"].fixed
    assert not graph.groups["moves"].prunable


def test_exclude_fixes_the_whole_group_of_any_member():
    graph = ChannelGraph(resnet(), exclude=["s0b1_bn2"])
    assert "excluded" in graph.groups["stem"].fixed
    with pytest.raises(ConfigError, match="s0b1_bnn"):
        ChannelGraph(resnet(), exclude=["s0b1_bnn"])


def test_param_count_matches_the_rebuilt_model():
    model = depthwise_multiplier()
    graph = ChannelGraph(model)
    assert graph.param_count() == model.count_params()
    small = prune_channels(model, 0.5)
    counts = {name: g.size for name, g in ChannelGraph(small).groups.items()}
    assert graph.param_count(counts) == small.count_params() < model.count_params()


class Scale(L.Layer):
    def call(self, x):
        return 2.0 * x


def _with(layer_fn):
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, name="conv")(inputs)
    x = layer_fn(x)
    return keras.Model(inputs, L.Dense(2, name="head")(L.GlobalAveragePooling2D()(x)))


@pytest.mark.parametrize("layer_fn,match", [
    (lambda x: Scale(name="my_scale")(x), r"layer 'my_scale' \(Scale\) is a custom layer"),
    (lambda x: L.Lambda(lambda t: t * 2, name="lam")(x), r"layer 'lam' \(Lambda\)"),
    (lambda x: tf.reduce_mean(x, axis=-1, keepdims=True) * x, r"tf\.math\.reduce_mean"),
    (lambda x: L.Conv2D(4, 1, data_format="channels_first", name="cf")(x), r"'cf'.*channels_first"),
], ids=["custom", "lambda", "tf_op", "channels_first"])
def test_unsupported_layers_raise_model_error_naming_the_layer_first(layer_fn, match):
    model = _with(layer_fn)
    with pytest.raises(ModelError, match=match) as info:
        prune_channels(model, keep_ratio=7.0, criterion="no_such")  # the model error comes before config errors
    assert len(str(info.value).splitlines()) == 1


def test_nested_functional_model_is_flattened_and_subclassed_is_refused():
    inner = keras.Sequential([keras.Input((8, 8, 4)), L.Conv2D(6, 3, padding="same", name="inner_conv"),
                              L.ReLU()], name="inner")
    inputs = keras.Input((8, 8, 3))
    x = inner(L.Conv2D(4, 3, padding="same", name="outer_conv")(inputs))
    model = keras.Model(inputs, L.Dense(2, name="head")(L.GlobalAveragePooling2D()(x)))
    graph = ChannelGraph(model)
    assert graph.model is not model and {"outer_conv", "inner_conv"} <= {g.name for g in graph.prunable()}
    assert prune_channels(model, 0.5).count_params() < model.count_params()

    class Sub(keras.Model):
        def call(self, x):
            return x

    sub = Sub(name="sub")
    sub(keras.Input((8, 8, 4)))
    with pytest.raises(ModelError, match=r"'sub' \(Sub\)"):
        ChannelGraph(keras.Model(inputs, sub(L.Conv2D(4, 1)(inputs))))
