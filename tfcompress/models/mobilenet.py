"""MobileNet-family students: inverted-residual blocks (MobileNetV2/V3, MnasNet, MCUNet's TinyNAS space).

Each block expands its input with a 1x1 convolution, filters it with a k x k depthwise convolution, optionally
re-weights the channels with squeeze-and-excitation, and projects it back with a linear 1x1 convolution; a
residual Add joins input and output when their shapes match. Stages have base widths that never shrink, all
scaled by one width multiplier, which is what a search fits to a size budget.
"""

from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.models.blocks import ACTIVATIONS, activation, conv_bn, downsampling_plan, make_divisible, \
    squeeze_excite

L = keras.layers
#: Base output widths of the stages (MobileNetV2's progression), before the width multiplier.
CHANNELS = (16, 24, 32, 64, 96, 160)


def _per_stage(value, n, what):
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * n
    if len(values) != n:
        raise ConfigError(f"mobilenet: {what} needs one value per stage ({n}), received {value!r}.")
    return values


def inverted_residual(x, filters, expansion, kernel_size, strides, act, se, name, se_ratio=0.25, divisor=8):
    """One inverted-residual block (1x1 expand, k x k depthwise, optional SE, linear 1x1 projection, residual)."""
    in_channels = int(x.shape[-1])
    h = x
    if expansion != 1:
        h = conv_bn(h, make_divisible(in_channels * expansion, divisor), 1, 1, f"{name}_expand", act)
    h = conv_bn(h, None, kernel_size, strides, f"{name}_depthwise", act, depthwise=True)
    if se:
        h = squeeze_excite(h, se_ratio, name, divisor)
    h = conv_bn(h, filters, 1, 1, f"{name}_project")
    if strides == 1 and in_channels == filters:
        h = L.Add(name=f"{name}_add")([x, h])
    return h


def build_mobilenet(input_shape, num_classes, width=1.0, depths=(1, 2, 2, 1), channels=None, expansion=4,
                    kernel_size=3, se=False, activation_fn="relu6", stem=16, dropout=0.0, divisor=8,
                    name="mobilenet"):
    """A MobileNet-style classifier outputting logits.

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        num_classes: number of output logits.
        width: width multiplier of every stage (and the stem). Defaults to 1.0.
        depths: blocks per stage. Defaults to (1, 2, 2, 1).
        channels: base output width of each stage, non-decreasing; None takes the first ``len(depths)`` of
            ``CHANNELS`` (16, 24, 32, 64, 96, 160). Defaults to None.
        expansion: expansion ratio, one for all stages or one per stage. Defaults to 4.
        kernel_size: depthwise kernel size, one or one per stage. Defaults to 3.
        se: squeeze-and-excitation in every block (one or one per stage). Defaults to False.
        activation_fn: ``"relu6"``, ``"relu"`` or ``"hard_swish"``. Defaults to "relu6".
        stem: base width of the stem convolution. Defaults to 16.
        dropout: dropout rate before the classifier. Defaults to 0.0.
        divisor: channel counts are multiples of this. Defaults to 8.
        name: model name. Defaults to "mobilenet".

    Returns:
        A functional ``tf_keras`` model. The resolution is halved by the last places of (stem, stages) as
        ``blocks.downsampling_plan`` decides from the input size.

    Raises:
        ConfigError: inputs that are not images, widths that shrink, or options of the wrong length.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ConfigError(f"mobilenet expects image inputs (height, width, channels), received {input_shape}. "
                          "Fix: use family 'mlp' for vector inputs.")
    n = len(tuple(depths))
    if n < 1 or any(int(d) < 1 for d in depths):
        raise ConfigError(f"mobilenet: depths must be one or more positive block counts, received {depths!r}.")
    channels = tuple(channels) if channels is not None else CHANNELS[:n]
    if len(channels) != n or any(b < a for a, b in zip(channels, channels[1:])):
        raise ConfigError(f"mobilenet: channels must give one non-decreasing width per stage ({n}), received "
                          f"{channels!r}.")
    if activation_fn not in ACTIVATIONS:
        raise ConfigError(f"mobilenet: activation_fn must be one of {', '.join(ACTIVATIONS)}, received "
                          f"{activation_fn!r}.")
    expansion, kernel_size, se = (_per_stage(expansion, n, "expansion"), _per_stage(kernel_size, n, "kernel_size"),
                                  _per_stage(se, n, "se"))
    strides = downsampling_plan(min(input_shape[:2]), n + 1)
    inputs = keras.Input(shape=input_shape, name="input")
    x = conv_bn(inputs, make_divisible(stem * width, divisor), 3, strides[0], "stem", activation_fn)
    for s in range(n):
        filters = make_divisible(channels[s] * width, divisor)
        for b in range(int(depths[s])):
            x = inverted_residual(x, filters, expansion[s], kernel_size[s], strides[s + 1] if b == 0 else 1,
                                  activation_fn, bool(se[s]), f"s{s}b{b}", divisor=divisor)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = L.Dropout(dropout, name="dropout")(x)
    outputs = L.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


__all__ = ["build_mobilenet", "inverted_residual", "CHANNELS"]
