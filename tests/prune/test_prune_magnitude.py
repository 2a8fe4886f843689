"""TFMOT magnitude pruning: sparsity reached, exclusions, per-layer targets, the input model left alone."""

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.prune import (MagnitudePruning, layer_targets, make_schedule, pruning_callbacks, resolve_exclude,
                              sparsity_summary, strip, wrap_for_pruning)

import tensorflow_model_optimization as tfmot  # noqa: E402


def _kernel_sparsity(model):
    return {r["layer"]: r["kernel_sparsity"] for r in sparsity_summary(model) if r["kernel_params"]}


@pytest.fixture(scope="module")
def pruned_polynomial(data):
    """One polynomial-schedule run shared by several tests (fine-tuning is the slow part)."""
    from tfcompress.models import build_cnn
    from tfcompress.train import Trainer

    model = build_cnn((8, 8, 1), 4, filters=(8, 16), dense_units=16, pooling="gap")
    before = [w.copy() for w in model.get_weights()]
    stage = MagnitudePruning(sparsity=0.75, epochs=2, layer_sparsity={"dense": 0.5})
    pruned = stage.apply(model, Trainer(data, batch_size=32))
    return model, before, pruned, stage.report


def test_default_exclusions_are_first_conv_and_classifier(cnn):
    assert resolve_exclude(cnn, ("first_conv", "classifier")) == {"conv0", "logits"}
    assert layer_targets(cnn, 0.6) == {"conv1": 0.6, "dense": 0.6}
    assert resolve_exclude(cnn, "logits") == {"logits"}  # a single name, not its letters
    assert layer_targets(cnn, 0.6, exclude=()) == {"conv0": 0.6, "conv1": 0.6, "dense": 0.6, "logits": 0.6}
    # naming a layer in layer_sparsity prunes it even if a keyword would exclude it
    assert layer_targets(cnn, 0.6, layer_sparsity={"logits": 0.3})["logits"] == 0.3


def test_unknown_layer_names_raise_config_error(cnn):
    with pytest.raises(ConfigError, match="conv9"):
        layer_targets(cnn, 0.5, exclude=["conv9"])
    with pytest.raises(ConfigError, match="bn0"):
        layer_targets(cnn, 0.5, layer_sparsity={"bn0": 0.5})


def test_sparsity_reached_equals_target_per_layer(pruned_polynomial):
    _, _, pruned, report = pruned_polynomial
    sparsity = _kernel_sparsity(pruned)
    assert sparsity["conv1"] == pytest.approx(0.75, abs=0.01)
    assert sparsity["dense"] == pytest.approx(0.5, abs=0.01)
    assert report["targets"] == {"conv1": 0.75, "dense": 0.5}
    assert report["schedule"]["class_name"] == "PolynomialDecay"
    assert 0.0 <= report["val_accuracy"] <= 1.0


def test_excluded_layers_are_untouched_and_wrappers_stripped(pruned_polynomial):
    _, _, pruned, _ = pruned_polynomial
    sparsity = _kernel_sparsity(pruned)
    assert sparsity["conv0"] == 0.0 and sparsity["logits"] == 0.0
    assert not any(type(layer).__name__ == "PruneLowMagnitude" for layer in pruned.layers)
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in pruned_polynomial[0].layers]


def test_input_model_is_left_unchanged(pruned_polynomial):
    model, before, pruned, _ = pruned_polynomial
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert pruned is not model
    assert _kernel_sparsity(model)["conv1"] == 0.0


def test_constant_schedule_reaches_target(cnn, trainer):
    stage = MagnitudePruning(sparsity=0.6, epochs=1, schedule="constant", exclude=["logits"])
    pruned = stage.apply(cnn, trainer)
    sparsity = _kernel_sparsity(pruned)
    for name in ("conv0", "conv1", "dense"):
        assert sparsity[name] == pytest.approx(0.6, abs=0.01), name
    assert sparsity["logits"] == 0.0


def test_wrapped_student_nested_in_another_model_is_pruned(cnn, data):
    """UpdatePruningStep finds wrapped layers inside a nested model (as inside a Distiller)."""
    wrapped = wrap_for_pruning(cnn, {"conv1": make_schedule("constant", 0.5, 1, 8)})
    inputs = keras.Input((8, 8, 1))
    outer = keras.Model(inputs, wrapped(inputs))
    outer.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    outer.fit(data["x_train"], data["y_train"], batch_size=32, epochs=1, verbose=0, callbacks=pruning_callbacks())
    assert _kernel_sparsity(strip(wrapped))["conv1"] == pytest.approx(0.5, abs=0.01)


def test_wrap_rejects_layers_tfmot_cannot_prune(cnn):
    schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, 0)
    with pytest.raises(ConfigError, match="bn0"):
        wrap_for_pruning(cnn, {"bn0": schedule})
    with pytest.raises(ConfigError, match="nope"):
        wrap_for_pruning(cnn, {"nope": schedule})


def test_everything_excluded_raises(cnn, trainer):
    with pytest.raises(ConfigError, match="nothing to prune"):
        MagnitudePruning(sparsity=0.5, exclude=["conv0", "conv1", "dense", "logits"]).apply(cnn, trainer)
