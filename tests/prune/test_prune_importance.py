"""Importance criteria: each ranks channels by what it should, per-layer normalisation, the registry."""

import numpy as np
import pytest

import channel_models as cm
from tfcompress._keras import keras
from tfcompress.errors import ConfigError, DataError
from tfcompress.prune import ChannelGraph, Importance, get_importance, importance_names, plan_channels

L = keras.layers


def _two_filters():
    """Dense 'a' with two units: unit 0 one large weight (L2 3, L1 3), unit 1 four medium ones (L2 2, L1 4)."""
    inputs = keras.Input((4,))
    a = L.Dense(2, activation="relu", name="a")(inputs)
    bn = L.BatchNormalization(name="bn")(a)
    model = keras.Model(inputs, L.Dense(3, name="head")(bn))
    model.get_layer("a").set_weights([np.array([[3, 1], [0, 1], [0, 1], [0, 1]], "float32"), np.zeros(2, "float32")])
    return model


def test_l1_and_l2_prefer_different_filters():
    model = _two_filters()
    assert plan_channels(model, 0.5, criterion="l1").kept("a").tolist() == [1]
    assert plan_channels(model, 0.5, criterion="l2").kept("a").tolist() == [0]


def test_bn_gamma_ranks_by_the_batch_norm_scale():
    model = _two_filters()
    model.get_layer("bn").set_weights([np.array([0.1, 0.2], "float32")] + model.get_layer("bn").get_weights()[1:])
    assert plan_channels(model, 0.5, criterion="bn_gamma").kept("a").tolist() == [1]
    model.get_layer("bn").set_weights([np.array([-2.0, 0.2], "float32")] + model.get_layer("bn").get_weights()[1:])
    assert plan_channels(model, 0.5, criterion="bn_gamma").kept("a").tolist() == [0]  # |gamma|


def test_taylor_drops_a_large_filter_that_nothing_reads():
    inputs = keras.Input((6,))
    model = keras.Model(inputs, L.Dense(3, name="head")(L.Dense(4, activation="relu", name="a")(inputs)))
    kernel = np.full((6, 4), 0.5, "float32")
    kernel[:, 0] = 5.0  # the largest filter ...
    model.get_layer("a").set_weights([kernel, np.zeros(4, "float32")])
    head = model.get_layer("head").get_weights()
    head[0][0, :] = 0.0  # ... but the head ignores it, so the loss does not depend on it
    model.get_layer("head").set_weights(head)
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64))
    assert 0 in plan_channels(model, 0.5, criterion="l1").kept("a")
    assert 0 not in plan_channels(model, 0.5, criterion="taylor", data=data).kept("a")
    with pytest.raises(DataError, match="taylor"):
        plan_channels(model, 0.5, criterion="taylor")


def test_member_layers_are_normalised_so_that_size_does_not_dominate():
    graph = ChannelGraph(cm.resnet())
    group = graph.groups["s1b0_proj"]  # a 1x1 projection tied to two 3x3 convs
    scores = get_importance("l1").scores(graph, [group])["s1b0_proj"]
    per_layer = get_importance("l1").layer_scores(graph, group, None)
    assert len(per_layer) == 3 and scores.shape == (32,)
    np.testing.assert_allclose(scores.mean(), 3.0)  # each member contributes a mean of 1
    np.testing.assert_allclose(scores, sum(v / v.mean() for v in per_layer))


def test_registry_lists_valid_names_and_accepts_custom_criteria():
    assert importance_names() == ("bn_gamma", "l1", "l2", "taylor")
    with pytest.raises(ConfigError, match="'bn_gamma', 'l1', 'l2', 'taylor'; received 'l0'"):
        get_importance("l0")

    class Reverse(Importance):
        def layer_scores(self, graph, group, data):
            return [np.arange(group.size, 0, -1, dtype="float64")]  # prefers the first channels

    plan = plan_channels(cm.resnet(), 0.25, criterion=Reverse())
    assert plan.kept("s2b0_conv1").tolist() == list(range(16))
