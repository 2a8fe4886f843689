"""Gradient-based pruning: Taylor/movement importance, exact mask sparsity, masks held while fine-tuning."""

import numpy as np
import pytest

from tfcompress._keras import keras, tf
from tfcompress.errors import ConfigError
from tfcompress.prune import GradientPruning, MaskEnforcer, apply_masks, gradient_importance, masks_from_scores


def _mlp():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(5, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(x))


def test_taylor_importance_matches_hand_computation():
    model = _mlp()
    rng = np.random.default_rng(1)
    batches = [(rng.normal(size=(8, 6)).astype("float32"), rng.integers(0, 3, 8)) for _ in range(2)]
    scores = gradient_importance(model, batches, "taylor")
    assert set(scores) == {"hidden/kernel", "out/kernel"}
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = np.zeros(model.get_layer("hidden").kernel.shape)
    for x, y in batches:
        with tf.GradientTape() as tape:
            value = loss(y, model(x))
        grad = tape.gradient(value, model.get_layer("hidden").kernel).numpy()
        expected += np.abs(grad * model.get_layer("hidden").kernel.numpy())
    np.testing.assert_allclose(scores["hidden/kernel"], expected, rtol=1e-5, atol=1e-8)
    movement = gradient_importance(model, batches, "movement", layers=["out"])
    assert set(movement) == {"out/kernel"} and (movement["out/kernel"] < 0).any()


def test_masks_reach_exact_sparsity_globally_and_per_layer():
    rng = np.random.default_rng(0)
    scores = {"a/kernel": rng.random((10, 10)), "b/kernel": rng.random((7, 3)) * 10}
    glob = masks_from_scores(scores, 0.6, "global")
    zeros = sum(int((m == 0).sum()) for m in glob.values())
    assert zeros == round(0.6 * 121)
    # global ranking prunes the low-scoring layer far more than the high-scoring one
    assert (glob["a/kernel"] == 0).mean() > (glob["b/kernel"] == 0).mean()
    per_layer = masks_from_scores(scores, 0.6, "layer", key_sparsity={"b/kernel": 0.3})
    assert (per_layer["a/kernel"] == 0).sum() == 60
    assert (per_layer["b/kernel"] == 0).sum() == round(0.3 * 21)
    kept = scores["a/kernel"][per_layer["a/kernel"] == 1]
    dropped = scores["a/kernel"][per_layer["a/kernel"] == 0]
    assert kept.min() >= dropped.max()
    with pytest.raises(ConfigError):
        masks_from_scores(scores, 0.5, "row")


def test_mask_enforcer_keeps_zeros_during_fit():
    model = _mlp()
    masks = {"hidden/kernel": (np.arange(30).reshape(6, 5) % 2).astype("float32")}
    apply_masks(model, masks)
    before = model.get_layer("hidden").kernel.numpy().copy()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    model.compile(keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[MaskEnforcer(model, masks)])
    after = model.get_layer("hidden").kernel.numpy()
    assert np.all(after[masks["hidden/kernel"] == 0] == 0)
    assert not np.allclose(after[masks["hidden/kernel"] == 1], before[masks["hidden/kernel"] == 1])


def test_gradient_stage_masks_persist_through_fine_tuning(cnn, trainer):
    before = [w.copy() for w in cnn.get_weights()]
    stage = GradientPruning(sparsity=0.7, epochs=1, batches=4, scope="layer", layer_sparsity={"dense": 0.4})
    pruned = stage.apply(cnn, trainer)
    share = {layer.name: float(np.mean(layer.kernel.numpy() == 0)) for layer in pruned.layers
             if hasattr(layer, "kernel")}
    assert share["conv1"] == pytest.approx(0.7, abs=0.01)  # trained for an epoch with the mask held
    assert share["dense"] == pytest.approx(0.4, abs=0.01)
    assert share["conv0"] == 0.0 and share["logits"] == 0.0
    assert stage.report["kept_share"]["conv1/kernel"] == pytest.approx(0.3, abs=0.01)
    for old, new in zip(before, cnn.get_weights()):
        np.testing.assert_array_equal(old, new)
