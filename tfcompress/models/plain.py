"""Small reference architectures used by the demo, the search, tests and benchmarks.

All builders return functional ``tf_keras`` models that output *logits*
(no softmax), which is what distillation and export expect.
"""

from tfcompress._keras import keras
from tfcompress.errors import ConfigError


def build_cnn(input_shape, num_classes, filters=(16, 32), kernel_size=3, dense_units=32, separable=False,
              batch_norm=True, dropout=0.0, pooling="flatten", name="cnn"):
    """A plain CNN: one or more conv stages (conv, BN, ReLU, pooling), global pooling, dense head.

    Args:
        input_shape: shape of one input, e.g. ``(8, 8, 1)``.
        num_classes: number of output logits.
        filters: filters per stage; each stage but the last halves the spatial size. Defaults to (16, 32).
        kernel_size: conv kernel size. Defaults to 3.
        dense_units: width of the hidden dense layer (0 for none). Defaults to 32.
        separable: use depthwise-separable convs after the first stage. Defaults to False.
        batch_norm: add BatchNorm after each conv. Defaults to True.
        dropout: dropout rate before the classifier. Defaults to 0.0.
        pooling: how the last feature map becomes a vector: ``"flatten"`` keeps the spatial layout (best for
            small inputs such as 8x8 digits), ``"gap"`` averages it away (global average pooling, fewer
            parameters on large maps). Defaults to "flatten".
        name: model name. Defaults to "cnn".
    """
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = inputs
    for i, f in enumerate(filters):
        if separable and i > 0:
            x = keras.layers.SeparableConv2D(f, kernel_size, padding="same", use_bias=not batch_norm,
                                             name=f"conv{i}")(x)
        else:
            x = keras.layers.Conv2D(f, kernel_size, padding="same", use_bias=not batch_norm, name=f"conv{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if i < len(filters) - 1 and x.shape[1] > 1 and x.shape[2] > 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    if pooling == "gap":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    elif pooling == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        raise ConfigError(f"pooling must be 'flatten' or 'gap', received {pooling!r}.")
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def build_mlp(input_shape, num_classes, units=(64, 64), dropout=0.0, batch_norm=False, name="mlp"):
    """A multilayer perceptron for vector inputs, outputting logits.

    Args:
        input_shape: shape of one input, e.g. ``(24,)``; higher ranks are flattened.
        num_classes: number of output logits.
        units: width of each hidden layer. Defaults to (64, 64).
        dropout: dropout rate after each hidden layer. Defaults to 0.0.
        batch_norm: BatchNorm after each hidden layer. Defaults to False.
        name: model name. Defaults to "mlp".
    """
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for i, u in enumerate(units):
        x = keras.layers.Dense(u, name=f"dense{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
