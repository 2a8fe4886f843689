"""Pre-flight checks of distillation: what a model outputs (logits or probabilities), also under TFMOT wrappers."""


def test_output_kind_sees_through_tfmot_wrappers():
    """A softmax head stays a softmax head once TFMOT wraps it for QAT or pruning (the loss must not use logits)."""
    import tensorflow_model_optimization as tfmot

    from tfcompress._keras import keras
    from tfcompress.distill.checks import output_kind

    inputs = keras.Input((4,))
    probs = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(5)(inputs)))
    logits = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    assert output_kind(tfmot.quantization.keras.quantize_model(probs)) == "probabilities"
    assert output_kind(tfmot.sparsity.keras.prune_low_magnitude(probs)) == "probabilities"
    assert output_kind(tfmot.quantization.keras.quantize_model(logits)) == "logits"
