"""What each tf_keras layer does to the channels (the last axis) of the tensors it reads and writes.

``ChannelGraph`` asks ``rule_for(layer, node)`` about every node of a model before it builds anything, so a
layer it cannot reason about is refused up front.  A rule has one of these kinds:

* ``PRODUCER``: Conv1D/2D/3D (and their transposes), Dense and the pointwise half of SeparableConv1D/2D make
  a new channel space on their output; their kernel's input axis reads the input's channels.
* ``FOLLOWER``: layers with per-channel weights along the input's channels whose output keeps them:
  BatchNormalization on the last axis, PReLU with a per-channel alpha, DepthwiseConv1D/2D (with a multiplier
  ``m`` output channel ``c*m + j`` comes from input channel ``c``).
* ``PASS``: channels go through unchanged (activations, dropout, pooling, padding, cropping, upsampling, a
  Reshape or Permute that keeps the last axis, elementwise TensorFlow ops with scalar constants).
* ``FIX``: channels go through, but the layer mixes or indexes them (LayerNormalization, softmax, a per-channel
  constant): the channels it touches cannot be pruned.
* ``MERGE``: elementwise over several inputs (Add, Multiply, ``x * y``...): their channels are tied.
* ``CONCAT``: Concatenate on the last axis: the output is the inputs' channels one after the other.
* ``FLATTEN``: Flatten repeats the channels once per spatial position.
* ``OPAQUE``: a Reshape or Permute that moves the channel axis: its input is fixed and its output is a new,
  fixed channel space.

A rule also says how the layer's weights are sliced (``WeightSpec``: axis -> ``"in"``, ``"out"`` or ``"mid"``,
the input channels, the output channels and, for a separable conv, the channels between its two halves) and
which config key holds the output width (``filters``/``units``).
"""

import dataclasses

import numpy as np

from tfcompress._compat import tf_op_layer_types, tf_op_symbol
from tfcompress._keras import keras, tf
from tfcompress.errors import ModelError

L = keras.layers
PRODUCER, FOLLOWER, PASS, FIX, MERGE, CONCAT, FLATTEN, OPAQUE = (
    "producer", "follower", "pass", "fix", "merge", "concat", "flatten", "opaque")


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """How one weight of a layer is sliced: ``name`` (kernel, bias, gamma...) and ``axes`` ((axis, role), ...)."""

    name: str
    axes: tuple = ()


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a layer does to channels (see the module docstring for the kinds)."""

    kind: str
    mult: int = 1  # depthwise multiplier: output channel c*mult + j comes from input channel c
    weights: tuple = ()  # one WeightSpec per entry of layer.weights
    count_key: str = None  # config key set to the new output width ("filters" or "units")
    separable: bool = False  # a SeparableConv: its depthwise half has weights along the input channels too
    reshape: bool = False  # a Reshape keeping the last axis: its target_shape follows the new width
    reason: str = ""  # FIX / OPAQUE (and a grouped-conv PRODUCER): why the channels it touches are fixed


_CONVS = (L.Conv1D, L.Conv2D, L.Conv3D)
_TRANSPOSED = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
_SEPARABLE = (L.SeparableConv1D, L.SeparableConv2D)
_DEPTHWISE = (L.DepthwiseConv1D, L.DepthwiseConv2D)
_MERGES = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)
_PASS_TYPES = (
    L.ReLU, L.LeakyReLU, L.ELU, L.ThresholdedReLU, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D,
    L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization,
    L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D,
    L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D, L.GlobalMaxPooling1D,
    L.GlobalMaxPooling2D, L.GlobalMaxPooling3D, L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping1D,
    L.Cropping2D, L.Cropping3D, L.UpSampling1D, L.UpSampling2D, L.UpSampling3D, L.RepeatVector)
_MIXING_ACTIVATIONS = ("softmax", "log_softmax")

#: TensorFlow ops (``TFOpLambda`` symbols) that act elementwise: with one tensor and scalar constants they pass
#: channels through; with several tensors they tie them.
ELEMENTWISE_OPS = frozenset({
    "__operators__.add", "math.add", "math.subtract", "math.multiply", "math.truediv", "math.divide",
    "math.divide_no_nan", "math.floordiv", "math.maximum", "math.minimum", "math.pow", "math.squared_difference",
    "nn.relu", "nn.relu6", "nn.elu", "nn.selu", "nn.gelu", "nn.silu", "nn.swish", "nn.leaky_relu", "nn.sigmoid",
    "math.sigmoid", "math.tanh", "nn.tanh", "math.abs", "math.negative", "math.square", "math.sqrt", "math.rsqrt",
    "math.exp", "math.log", "math.softplus", "nn.softplus", "math.softsign", "nn.softsign", "math.sign",
    "math.reciprocal", "math.round", "math.floor", "math.ceil", "math.erf", "identity", "cast", "clip_by_value"})

SUPPORTED = ("Conv1D/2D/3D and their transposes, Dense, SeparableConv1D/2D, DepthwiseConv1D/2D, "
             "BatchNormalization, LayerNormalization, PReLU and other activations, Dropout, pooling, padding, "
             "cropping, upsampling, Flatten, Reshape, Permute, Add/Subtract/Multiply/Average/Maximum/Minimum, "
             "Concatenate, Rescaling, Normalization and elementwise TensorFlow ops (x + 3.0, x * y, tf.nn.relu6)")


def is_symbolic(value):
    """Whether ``value`` is a tf_keras symbolic tensor (a KerasTensor), not a constant."""
    return tf.is_tensor(value) and keras.backend.is_keras_tensor(value)


def rule_for(layer, node):
    """The ``Rule`` of ``layer`` at ``node`` (one call of the layer).

    Raises:
        ModelError: the layer is of a type channel pruning cannot reason about (a custom layer, a Lambda, a
            recurrent layer...), or uses ``data_format="channels_first"``; the message names layer and class.
    """
    kind = type(layer)  # exact types: a subclass may compute anything in call()
    fmt = getattr(layer, "data_format", None)
    if fmt not in (None, "channels_last") and isinstance(layer, L.Layer):
        raise ModelError(f"layer {layer.name!r} ({kind.__name__}) uses data_format={fmt!r}; channel pruning "
                         "follows the last axis only. Fix: build the model with data_format='channels_last'.")
    if kind in _CONVS or kind is L.Dense or kind in _TRANSPOSED:
        return _producer(layer)
    if kind in _SEPARABLE:
        mult = int(layer.depth_multiplier)
        specs = {"depthwise_kernel": ((-2, "in"),), "pointwise_kernel": ((-2, "mid"), (-1, "out")),
                 "bias": ((0, "out"),)}
        return Rule(PRODUCER, mult=mult, weights=_specs(layer, specs), count_key="filters", separable=True)
    if kind in _DEPTHWISE:
        return Rule(FOLLOWER, mult=int(layer.depth_multiplier),
                    weights=_specs(layer, {"depthwise_kernel": ((-2, "in"),), "bias": ((0, "out"),)}))
    if kind is L.BatchNormalization:
        return _batch_norm(layer, node)
    if kind is L.PReLU:
        per_channel = int(layer.alpha.shape[-1]) > 1
        return Rule(FOLLOWER, weights=_specs(layer, {"alpha": ((-1, "in"),) if per_channel else ()}))
    if kind in _PASS_TYPES:
        return Rule(PASS)
    if kind is L.Activation:
        name = str(layer.get_config().get("activation"))
        if name in _MIXING_ACTIVATIONS:
            return Rule(FIX, reason=f"{layer.name} applies {name} across the channels")
        return Rule(PASS)
    if kind is L.Softmax:
        return Rule(FIX, reason=f"{layer.name} applies softmax across the channels")
    if kind in (L.LayerNormalization, L.UnitNormalization):
        return Rule(FIX, reason=f"{layer.name} is a {kind.__name__}")
    if kind is L.Normalization:
        return Rule(FIX, reason=f"{layer.name} holds per-channel statistics (Normalization)")
    if kind is L.Rescaling:
        scalar = all(np.size(v) == 1 for v in (layer.scale, layer.offset))
        return Rule(PASS) if scalar else Rule(FIX, reason=f"{layer.name} rescales each channel differently")
    if kind in _MERGES:
        return Rule(MERGE)
    if kind is L.Concatenate:
        rank = len(node.outputs.shape)
        return Rule(CONCAT) if layer.axis in (-1, rank - 1) else Rule(MERGE)
    if kind is L.Flatten:
        return Rule(FLATTEN)
    if kind is L.Reshape:
        if _channels(node.keras_inputs[0]) == _channels(node.outputs) and len(node.outputs.shape) >= 2:
            return Rule(PASS, reshape=True)
        return Rule(OPAQUE, reason=f"{layer.name} reshapes the channel axis")
    if kind is L.Permute:
        if tuple(layer.dims)[-1] == len(layer.dims):
            return Rule(PASS)
        return Rule(OPAQUE, reason=f"{layer.name} moves the channel axis")
    if kind is tf_op_layer_types()[0]:
        return _tf_op(layer, node)
    raise ModelError(_unsupported(layer))


def _producer(layer):
    if getattr(layer, "groups", 1) != 1:  # output channel o reads input group o // (out / groups): keep both
        return Rule(PRODUCER, reason=f"{layer.name} is a grouped convolution (groups={layer.groups})",
                    weights=_specs(layer, {}))
    if isinstance(layer, _TRANSPOSED):
        specs = {"kernel": ((-1, "in"), (-2, "out")), "bias": ((0, "out"),)}
    else:
        specs = {"kernel": ((-2, "in"), (-1, "out")), "bias": ((0, "out"),)}
    return Rule(PRODUCER, weights=_specs(layer, specs), count_key="units" if type(layer) is L.Dense else "filters")


def _batch_norm(layer, node):
    rank = len(node.keras_inputs[0].shape)
    axes = {a % rank for a in (layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis])}
    if axes == {rank - 1}:
        names = ("gamma", "beta", "moving_mean", "moving_variance")
        return Rule(FOLLOWER, weights=_specs(layer, {n: ((0, "in"),) for n in names}))
    if rank - 1 in axes:
        return Rule(FIX, reason=f"{layer.name} normalises the channels together with axes {sorted(axes)}")
    return Rule(PASS)  # per-position statistics along other axes: channels are independent and unsliced


def _tf_op(layer, node):
    symbol = tf_op_symbol(layer)
    if symbol not in ELEMENTWISE_OPS:
        raise ModelError(f"layer {layer.name!r} (TFOpLambda calling tf.{symbol}) is a TensorFlow op channel "
                         "pruning cannot follow; it supports elementwise ops ("
                         f"{', '.join(sorted(s for s in ELEMENTWISE_OPS if '.' in s)[:12])}, ...). Fix: use a "
                         "Keras layer for it (e.g. layers.Reshape, layers.Lambda is not supported either), or "
                         "prune with method 'magnitude'.")
    flat = tf.nest.flatten((node.call_args, node.call_kwargs))
    tensors = [v for v in flat if is_symbolic(v)]
    if len(tensors) > 1:
        return Rule(MERGE)
    numbers = [v for v in flat if not is_symbolic(v) and _is_number(v)]
    if all(np.size(v) == 1 for v in numbers):
        return Rule(PASS)
    return Rule(FIX, reason=f"{layer.name} (tf.{symbol}) uses a per-channel constant")


def _is_number(value):
    if isinstance(value, (bool, str, bytes)) or value is None or isinstance(value, tf.dtypes.DType):
        return False
    return isinstance(value, (int, float, complex, np.ndarray, np.generic)) or tf.is_tensor(value)


def _specs(layer, by_name):
    """One WeightSpec per weight of ``layer``, matched to its attributes (kernel, bias, gamma...) by identity."""
    found = []
    for weight in layer.weights:
        name = next((attr for attr in ("kernel", "bias", "depthwise_kernel", "pointwise_kernel", "gamma", "beta",
                                       "moving_mean", "moving_variance", "alpha")
                     if getattr(layer, attr, None) is weight), weight.name)
        found.append(WeightSpec(name, tuple(by_name.get(name, ()))))
    return tuple(found)


def _channels(tensor):
    shape = tensor.shape
    return int(shape[-1]) if len(shape) >= 2 and shape[-1] is not None else None


def _unsupported(layer):
    kind = type(layer)
    if isinstance(layer, keras.Model):
        what = "a subclassed or unbuilt model used as a layer (it cannot be flattened)"
    elif kind is L.Lambda:
        what = "a Lambda layer (its Python function cannot be inspected)"
    elif kind.__module__.startswith("tf_keras"):
        what = "a layer type channel pruning does not follow"
    else:
        what = f"a custom layer (defined in {kind.__module__})"
    return (f"layer {layer.name!r} ({kind.__name__}) is {what}. Channel pruning supports {SUPPORTED}. Fix: "
            f"replace it with supported layers, or prune with method 'magnitude' or 'gradient', which keep the "
            "architecture.")


__all__ = ["Rule", "WeightSpec", "rule_for", "is_symbolic", "ELEMENTWISE_OPS", "SUPPORTED", "PRODUCER",
           "FOLLOWER", "PASS", "FIX", "MERGE", "CONCAT", "FLATTEN", "OPAQUE"]
