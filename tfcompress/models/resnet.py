"""ResNet-family students: basic residual blocks with identity and projection shortcuts (He et al., 2016).

The CIFAR-style layout: a 3x3 stem, stages of basic blocks (two 3x3 conv-BN pairs and a shortcut), the first
block of a stage projecting the shortcut with a 1x1 conv when its width or resolution changes, global average
pooling and a linear classifier. Base widths never shrink and one width multiplier scales them all.
"""

from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.models.blocks import conv_bn, downsampling_plan, make_divisible

L = keras.layers
#: Base widths of the stages (ResNet-20/56's 16, 32, 64, then 128), before the width multiplier.
CHANNELS = (16, 32, 64, 128)


def basic_block(x, filters, strides, kernel_size, name):
    """conv-BN-ReLU, conv-BN, plus the identity (or a 1x1 conv-BN projection), then ReLU."""
    h = conv_bn(x, filters, kernel_size, strides, f"{name}_a", "relu")
    h = conv_bn(h, filters, kernel_size, 1, f"{name}_b")
    shortcut = x
    if strides != 1 or int(x.shape[-1]) != filters:
        shortcut = conv_bn(x, filters, 1, strides, f"{name}_shortcut")
    h = L.Add(name=f"{name}_add")([h, shortcut])
    return L.ReLU(name=f"{name}_out")(h)


def build_resnet(input_shape, num_classes, width=1.0, depths=(1, 1, 1), channels=None, kernel_size=3,
                 dropout=0.0, divisor=8, name="resnet"):
    """A ResNet-style classifier outputting logits.

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        num_classes: number of output logits.
        width: width multiplier of every stage. Defaults to 1.0.
        depths: basic blocks per stage. Defaults to (1, 1, 1) (a ResNet-8).
        channels: base width per stage, non-decreasing; None takes the first ``len(depths)`` of ``CHANNELS``
            (16, 32, 64, 128). Defaults to None.
        kernel_size: kernel of the block convolutions. Defaults to 3.
        dropout: dropout rate before the classifier. Defaults to 0.0.
        divisor: channel counts are multiples of this. Defaults to 8.
        name: model name. Defaults to "resnet".

    Raises:
        ConfigError: inputs that are not images, or widths that shrink.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ConfigError(f"resnet expects image inputs (height, width, channels), received {input_shape}. "
                          "Fix: use family 'mlp' for vector inputs.")
    n = len(tuple(depths))
    if n < 1 or any(int(d) < 1 for d in depths):
        raise ConfigError(f"resnet: depths must be one or more positive block counts, received {depths!r}.")
    channels = tuple(channels) if channels is not None else CHANNELS[:n]
    if len(channels) != n or any(b < a for a, b in zip(channels, channels[1:])):
        raise ConfigError(f"resnet: channels must give one non-decreasing width per stage ({n}), received "
                          f"{channels!r}.")
    strides = downsampling_plan(min(input_shape[:2]), n + 1)  # (stem, stage 0, ...): the last places halve
    inputs = keras.Input(shape=input_shape, name="input")
    widths = [make_divisible(c * width, divisor) for c in channels]
    x = conv_bn(inputs, widths[0], 3, strides[0], "stem", "relu")
    for s in range(n):
        for b in range(int(depths[s])):
            x = basic_block(x, widths[s], strides[s + 1] if b == 0 else 1, kernel_size, f"s{s}b{b}")
    x = L.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = L.Dropout(dropout, name="dropout")(x)
    outputs = L.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


__all__ = ["build_resnet", "basic_block", "CHANNELS"]
