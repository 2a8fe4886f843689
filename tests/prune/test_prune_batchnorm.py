"""Adaptive BN: after pruning, every BatchNorm's moving statistics are the cumulative batch statistics."""

import numpy as np
import pytest

import channel_models as cm
from tfcompress._keras import keras
from tfcompress.errors import DataError, ModelError
from tfcompress.prune import prune_channels, recalibrate_batch_norm

L = keras.layers


def _numpy_stats(values):
    """Mean of the batch means and of the (unbiased) batch variances, over all axes but the last."""
    means, variances = [], []
    for v in values:
        flat = v.reshape(-1, v.shape[-1]).astype("float64")
        means.append(flat.mean(axis=0))
        variances.append(flat.var(axis=0, ddof=1))
    return np.mean(means, axis=0), np.mean(variances, axis=0)


def test_moving_statistics_equal_the_cumulative_batch_statistics_after_pruning_a_mobilenet():
    model = cm.randomise(cm.mobilenet_v2())
    assert model.get_layer("bn_Conv1").momentum == 0.999  # a fine-tune would hardly move these statistics
    small = prune_channels(model, 0.5)
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(16, 32, 32, 3)).astype("float32") for _ in range(3)]
    names = ("bn_Conv1", "block_3_expand_BN", "block_16_project_BN")
    # what each BN sees in training mode (upstream BNs normalise with batch statistics), before recalibration
    probe = keras.Model(small.inputs, [small.get_layer(n).input for n in names])
    seen = [[np.asarray(v) for v in probe(b, training=True)] for b in batches]
    stale = small.get_layer("block_3_expand_BN").moving_mean.numpy().copy()
    weights = [w.copy() for w in small.get_weights()]
    recalibrate_batch_norm(small, batches, batches=3)
    for i, name in enumerate(names):
        mean, var = _numpy_stats([s[i] for s in seen])
        layer = small.get_layer(name)
        np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), var, rtol=1e-4, atol=1e-5)
    assert not np.allclose(stale, small.get_layer("block_3_expand_BN").moving_mean.numpy())
    moving = {id(w) for layer in small.layers if isinstance(layer, L.BatchNormalization)
              for w in (layer.moving_mean, layer.moving_variance)}
    for before, variable in zip(weights, small.weights):  # nothing else changed (no weight update)
        if id(variable) not in moving:
            np.testing.assert_array_equal(before, variable.numpy())


def test_arrays_are_sampled_with_a_seed_and_frozen_batch_norms_are_recalibrated_too():
    model = cm.randomise(cm.sequential_cnn())
    model.get_layer("bn0").trainable = False
    x = np.random.default_rng(1).normal(size=(100, 8, 8, 1)).astype("float32")
    recalibrate_batch_norm(model, x, batches=2, batch_size=50)
    out = keras.Model(model.inputs, model.get_layer("conv0").output)(x).numpy()
    mean, _ = _numpy_stats([out])  # two batches covering all 100 samples: the mean of the means is the mean
    np.testing.assert_allclose(model.get_layer("bn0").moving_mean.numpy(), mean, rtol=1e-4, atol=1e-5)
    assert model.get_layer("bn0").trainable is False  # restored


def test_errors():
    with pytest.raises(DataError, match="no input batch"):
        recalibrate_batch_norm(cm.sequential_cnn(), [])
    inner = cm.sequential_cnn()
    inputs = keras.Input((8, 8, 1))
    with pytest.raises(ModelError, match="flatten"):
        recalibrate_batch_norm(keras.Model(inputs, inner(inputs)), np.zeros((4, 8, 8, 1), "float32"))
