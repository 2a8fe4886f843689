"""Rebuild a model from a channel graph and a plan: a physically smaller dense model, or a zeroed copy.

``rebuild`` walks the graph's node records in execution order and calls, for every node, a new layer made from
the old layer's config with its new width (``filters``/``units``, a Reshape's ``target_shape``), then slices the
old weights along the axes each layer's ``Rule`` names: kernels on their output and input axes, biases,
BatchNorm gamma/beta/moving statistics, PReLU alpha, depthwise kernels, both halves of a separable kernel and
the rows of a Dense after Flatten. ``zero_channels`` instead copies the model and zeroes the dropped channels'
producer kernel columns and biases, depthwise biases and BatchNorm gamma and beta, so those activations are
exactly zero: with activations that map 0 to 0 the zeroed copy computes what the pruned model computes.
"""

import numpy as np

from tfcompress._compat import keras_history
from tfcompress._keras import keras, tf
from tfcompress.errors import ModelError
from tfcompress.prune import rules
from tfcompress.prune.graph import ChannelGraph, expand
from tfcompress.prune.plan import PruningPlan

_ZERO_OUT = ("kernel", "pointwise_kernel", "bias")  # zeroed along their output axis
_ZERO_IN = ("gamma", "beta")  # BatchNorm: zeroed along the input channels


def rebuild(graph, plan):
    """A new functional model with only the channels ``plan`` keeps (the graph's model is left unchanged).

    Args:
        graph: a ``ChannelGraph``.
        plan: a ``PruningPlan`` made for the same model.

    Returns:
        A new ``tf_keras`` functional model with the same inputs, outputs and name.

    Raises:
        ConfigError: the plan does not fit the graph. ModelError: a layer cannot be re-created from its config.
    """
    keep = plan.resolve(graph)
    model = graph.model
    tensors, inputs = {}, []
    for tensor in model.inputs:
        new = keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=keras_history(tensor).layer.name)
        tensors[id(tensor)] = new
        inputs.append(new)
    made = {}
    for record in graph.records:
        layer = record.layer
        if layer.name not in made:
            made[layer.name] = (_new_layer(layer, record, graph, keep), record)
        flat = tf.nest.flatten((record.node.call_args, record.node.call_kwargs))
        flat = [tensors[id(v)] if rules.is_symbolic(v) else v for v in flat]
        args, kwargs = tf.nest.pack_sequence_as((record.node.call_args, record.node.call_kwargs), flat)
        outputs = made[layer.name][0](*args, **kwargs)
        for old, new in zip(tf.nest.flatten(record.node.outputs), tf.nest.flatten(outputs)):
            tensors[id(old)] = new
    for new, record in made.values():
        if new.weights:
            new.set_weights(sliced_weights(record, graph, keep))
    outputs = [tensors[id(t)] for t in model.outputs]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)


def sliced_weights(record, graph, keep):
    """The weights of ``record``'s layer restricted to the kept channels (NumPy arrays, in layer order)."""
    index = _indices(record, graph, keep)
    values = []
    for value, spec in zip(record.layer.get_weights(), record.rule.weights or [None] * len(record.layer.weights)):
        for axis, role in (spec.axes if spec else ()):
            value = np.take(value, index[role], axis=axis)
        values.append(value)
    return values


def zero_channels(model, plan):
    """A copy of ``model`` whose dropped channels (per ``plan``) are exactly zero everywhere.

    Zeroes the producers' kernel columns and biases, depthwise biases and the BatchNorm gamma and beta of the
    dropped channels. With activations ``f`` where ``f(0) = 0`` the copy computes what ``prune_channels(model,
    plan)`` computes; tests and the sensitivity scan rely on that.

    Args:
        model: a built functional or Sequential ``tf_keras`` model (left unchanged).
        plan: a ``PruningPlan`` made for ``model``.

    Returns:
        A new ``tf_keras`` model with the original architecture.
    """
    graph = ChannelGraph(model)
    keep = plan.resolve(graph)
    copy = rebuild(graph, PruningPlan.full(graph))
    for layer_name, values in zeroed_weights(graph, keep).items():
        copy.get_layer(layer_name).set_weights(values)
    return copy


def zeroed_weights(graph, keep):
    """dict layer name -> its weights with the dropped channels zeroed, for the layers that change."""
    full = {name: np.arange(group.size) for name, group in graph.groups.items()}
    changed, seen = {}, set()
    for record in graph.records:
        if record.layer.name in seen or record.rule.kind not in (rules.PRODUCER, rules.FOLLOWER):
            continue
        seen.add(record.layer.name)
        kept, every = _indices(record, graph, keep), _indices(record, graph, full)
        drop = {role: np.setdiff1d(every[role], kept[role]) for role in kept}
        if not any(d.size for d in drop.values()):
            continue
        values = record.layer.get_weights()
        for value, spec in zip(values, record.rule.weights):
            axes = dict((role, axis) for axis, role in spec.axes)
            role = "out" if spec.name in _ZERO_OUT else "in" if spec.name in _ZERO_IN else None
            if role in axes and drop[role].size:
                where = [slice(None)] * value.ndim
                where[axes[role]] = drop[role]
                value[tuple(where)] = 0.0
        changed[record.layer.name] = values
    return changed


def _indices(record, graph, keep):
    index = {"in": graph.kept_indices(record.in_layouts[0], keep) if record.in_layouts else None,
             "out": graph.kept_indices(record.out_layout, keep)}
    index["mid"] = expand(index["in"], record.rule.mult) if index["in"] is not None else None
    return index


def _new_layer(layer, record, graph, keep):
    config = layer.get_config()
    width = int(graph.kept_indices(record.out_layout, keep).size)
    if record.rule.count_key:
        config[record.rule.count_key] = width
    if record.rule.reshape and config["target_shape"][-1] != -1:
        config["target_shape"] = tuple(config["target_shape"][:-1]) + (width,)
    try:
        return type(layer).from_config(config)
    except Exception as exc:  # noqa: BLE001 - any failure to re-create is the same problem for the user
        raise ModelError(f"cannot re-create layer {layer.name!r} ({type(layer).__name__}) from its config: {exc}. "
                         "Fix: give the layer a complete get_config().") from exc


__all__ = ["rebuild", "sliced_weights", "zero_channels", "zeroed_weights"]
