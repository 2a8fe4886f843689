"""Building blocks shared by the MobileNet and ResNet families, made of standard tf_keras layers only.

Standard layers keep every family convertible to a fully integer ``.tflite`` file, quantizable by TFMOT
(Multiply and Rescaling get an output-only ``QuantizeConfig`` in ``tfcompress.quantize.configs``), prunable by
``tfcompress.prune`` channel pruning (the graph sees Add, Multiply and BatchNorm) and loadable without
tfcompress's custom objects.
"""

import math

from tfcompress._keras import keras
from tfcompress.errors import ConfigError

L = keras.layers
ACTIVATIONS = ("relu", "relu6", "hard_swish")
#: BatchNorm momentum of every family: students are trained for a few hundred steps, and Keras' 0.99 (or
#: keras.applications' 0.999) leaves the moving statistics near their initial values after that.
BN_MOMENTUM = 0.9


def make_divisible(value, divisor=8, min_value=None):
    """``value`` rounded to the nearest multiple of ``divisor`` (never below ``min_value`` or 90% of ``value``).

    The rule of the MobileNet papers and ``keras.applications``: channel counts that vectorise well.

    Example:
        >>> make_divisible(37.0), make_divisible(3.0, 8), make_divisible(10, 4)
        (40, 8, 12)
    """
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return int(new)


def activation(x, kind, name):
    """``relu``, ``relu6`` or ``hard_swish`` (``x * relu6(x + 3) / 6``, written as Rescaling, ReLU(1), Multiply)."""
    if kind == "relu":
        return L.ReLU(name=name)(x)
    if kind == "relu6":
        return L.ReLU(6.0, name=name)(x)
    if kind == "hard_swish":
        gate = L.Rescaling(1.0 / 6.0, offset=0.5, name=f"{name}_gate_scale")(x)
        gate = L.ReLU(1.0, name=f"{name}_gate")(gate)
        return L.Multiply(name=name)([x, gate])
    raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, received {kind!r}.")


def conv_bn(x, filters, kernel, strides, name, act=None, depthwise=False):
    """Conv (or depthwise conv) without bias, BatchNorm, then an optional activation."""
    if depthwise:
        x = L.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_dw")(x)
    else:
        x = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return activation(x, act, f"{name}_{act}") if act else x


def squeeze_excite(x, ratio, name, divisor=8):
    """Squeeze-and-excitation: global average (kept 1x1), a reduce and an expand 1x1 conv, a sigmoid gate.

    The gate is a sigmoid rather than MobileNetV3's hard-sigmoid: TFMOT quantizes sigmoid activations.
    """
    channels = int(x.shape[-1])
    squeezed = make_divisible(channels * ratio, divisor)
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    s = L.Conv2D(squeezed, 1, activation="relu", name=f"{name}_se_reduce")(s)
    s = L.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_se_expand")(s)
    return L.Multiply(name=f"{name}_se")([x, s])


def downsampling_plan(size, positions):
    """Which of ``positions`` places (stem, then each stage) halve the resolution, for an input ``size`` px wide.

    The last places downsample, as many as it takes to end near a 4-pixel map (a 32 px input: the last three
    stages; 96 px: the stem and every stage). Early layers keep the resolution of small inputs.

    Example:
        >>> downsampling_plan(32, 5), downsampling_plan(96, 5), downsampling_plan(8, 4)
        ([1, 1, 2, 2, 2], [2, 2, 2, 2, 2], [1, 1, 1, 2])
    """
    downs = max(0, min(positions, int(round(math.log2(max(size, 1) / 4.0)))))
    return [1] * (positions - downs) + [2] * downs


__all__ = ["make_divisible", "activation", "conv_bn", "squeeze_excite", "downsampling_plan", "ACTIVATIONS",
           "BN_MOMENTUM"]
