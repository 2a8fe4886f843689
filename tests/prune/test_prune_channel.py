"""Channel pruning: a physically smaller model, correct outputs, clear errors for unsupported graphs."""

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.models import build_cnn, build_mlp
from tfcompress.prune import ChannelPruning, channel_counts, prune_channels

L = keras.layers
X = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")


def _randomise_batch_norm(model):
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])
    return model


def _sequential():
    return keras.Sequential([
        keras.Input((8, 8, 1)), L.Conv2D(8, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), L.BatchNormalization(), L.MaxPooling2D(),
        L.Conv2D(12, 3), L.Flatten(), L.Dense(10, activation="relu"), L.Dropout(0.2), L.Dense(4)])


MODELS = {
    "cnn_flatten": lambda: build_cnn((8, 8, 1), 4, filters=(8, 16), dense_units=16, dropout=0.1, pooling="flatten"),
    "separable_gap": lambda: build_cnn((8, 8, 1), 4, filters=(8, 16, 24), separable=True, pooling="gap"),
    "sequential_depthwise_flatten": _sequential,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keep_all_gives_identical_outputs(name):
    model = _randomise_batch_norm(MODELS[name]())
    same = prune_channels(model, keep_ratio=1.0)
    assert same is not model and same.count_params() == model.count_params()
    np.testing.assert_allclose(same.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_half_ratio_gives_smaller_model_with_same_output_shape(name):
    model = MODELS[name]()
    small = prune_channels(model, keep_ratio=0.5)
    assert small.count_params() < 0.6 * model.count_params()
    assert small.output_shape == model.output_shape
    before, after = channel_counts(model), channel_counts(small)
    last = list(before)[-1]
    assert after[last] == before[last]  # the classifier keeps its units
    for layer in list(before)[:-1]:
        assert after[layer] == -(-before[layer] // 2), layer
    assert np.isfinite(small.predict(X, verbose=0)).all()


def test_pruned_model_equals_original_with_dropped_units_zeroed():
    """Without BatchNorm, zeroing the dropped units' weights in the original must give the same outputs."""
    model = build_mlp((12,), 3, units=(10, 8))
    x = np.random.default_rng(2).normal(size=(20, 12)).astype("float32")
    small = prune_channels(model, keep_ratio=0.5)
    dropped = []
    for name in ("dense0", "dense1"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[dropped, :] = 0.0  # inputs from dropped units are zero anyway; ranking ignores them
        scores = np.abs(kernel).sum(axis=0)
        dropped = np.argsort(-scores, kind="stable")[small.get_layer(name).units:]
        kernel[:, dropped], bias[dropped] = 0.0, 0.0
        layer.set_weights([kernel, bias])
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_ratios_criteria_divisor_and_exclude():
    model = _randomise_batch_norm(build_cnn((8, 8, 1), 4, filters=(8, 16), dense_units=16,
                                               pooling="gap"))
    small = prune_channels(model, keep_ratio=0.3, criterion="bn_gamma", layer_ratios={"dense": 0.5},
                           exclude=["conv0"], divisor=4)
    assert channel_counts(small) == {"conv0": 8, "conv1": 8, "dense": 8, "logits": 4}
    gamma = np.abs(model.get_layer("bn1").gamma.numpy())
    kept_gamma = np.abs(small.get_layer("bn1").gamma.numpy())
    np.testing.assert_allclose(np.sort(kept_gamma), np.sort(gamma)[-8:])
    assert channel_counts(prune_channels(model, 0.01, criterion="l2", min_channels=2))["conv1"] == 2


def test_branching_model_raises_model_error_naming_the_layer():
    inputs = keras.Input((8, 8, 1))
    a = L.Conv2D(4, 3, padding="same", name="c1")(inputs)
    b = L.Conv2D(4, 3, padding="same", name="c2")(a)
    merged = L.Add(name="merge")([a, b])
    outputs = L.Dense(3, name="head")(L.GlobalAveragePooling2D()(merged))
    with pytest.raises(ModelError, match="merge"):
        prune_channels(keras.Model(inputs, outputs))
    fork = keras.Model(inputs, [L.Dense(2, name="h1")(L.Flatten()(a)), L.Dense(2, name="h2")(L.Flatten()(a))])
    with pytest.raises(ModelError, match="outputs"):
        prune_channels(fork)


def test_unsupported_layer_and_bad_arguments():
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(4, 3, name="c1")(inputs)
    x = L.Reshape((-1,), name="reshape")(x)
    with pytest.raises(ModelError, match="reshape"):
        prune_channels(keras.Model(inputs, L.Dense(2)(x)))
    model = build_cnn((8, 8, 1), 4, filters=(8,))
    for kwargs in ({"keep_ratio": 0.0}, {"keep_ratio": 1.5}, {"criterion": "l0"}, {"exclude": ["nope"]}):
        with pytest.raises(ConfigError):
            prune_channels(model, **kwargs)


def test_channel_stage_fine_tunes_and_reports(trainer):
    model = build_cnn((8, 8, 1), 4, filters=(8, 16), dense_units=16, pooling="gap")
    stage = ChannelPruning(keep_ratio=0.5, epochs=1)
    small = stage.apply(model, trainer)
    report = stage.report
    assert report["params_after"] == small.count_params() < report["params_before"] == model.count_params()
    assert report["channels"]["conv1"] == [16, 8] and report["channels"]["logits"] == [4, 4]
    assert 0.0 <= report["val_accuracy"] <= 1.0
