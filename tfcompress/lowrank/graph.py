"""Rebuild a functional tf_keras model with some layers replaced by small sub-graphs.

``keras.models.clone_model(clone_function=...)`` maps one layer to one layer,
so it cannot put two thinner layers where one stood.  ``rebuild`` instead walks
the model's functional graph node by node (deepest first, as Keras itself does
when it runs a functional model) and calls, for every node, either a fresh copy
of the node's layer (same config, same weights: the new model shares nothing
with the old one) or the replacement supplied for that layer.  Straight lines,
branches, merges, shared layers and multiple inputs/outputs all work.
"""

import numpy as np

from tfcompress import _compat
from tfcompress._compat import is_graph_network, keras_history
from tfcompress._keras import keras, tf
from tfcompress.errors import ModelError


def check_functional(model):
    """Raise ``ModelError`` unless ``model`` is a tf_keras model with a functional graph."""
    if not isinstance(model, keras.Model):
        raise ModelError(f"expected a tf_keras Model (build it with tfcompress.keras); received "
                         f"{type(model).__module__}.{type(model).__name__}.")
    if not is_graph_network(model):
        raise ModelError(f"model {model.name!r} has no functional graph (a subclassed model, or a Sequential "
                         "model that was never built). Low-rank factorization rebuilds the layer graph: "
                         "build the model with keras.Input (functional or Sequential API) and try again.")


def graph_nodes(model):
    """The model's non-input nodes in execution order (deepest first)."""
    check_functional(model)
    return _compat.graph_nodes(model)


def node_input_tensors(node):
    """The KerasTensors that a node consumed (flattened)."""
    return list(node.keras_inputs)


def rebuild(model, replacements):
    """A new functional model where each layer named in ``replacements`` is replaced.

    Args:
        model: a functional (or built Sequential) tf_keras model.
        replacements: dict ``layer name -> fn(args, kwargs) -> outputs``: called once per node of that
            layer with the node's call arguments (mapped to the new graph); it must return tensors of the
            same structure as the original layer's outputs.

    Returns:
        a new ``keras.Model`` with the same inputs, outputs and name. Layers not replaced are fresh copies
        (from their config, with copied weights).

    Raises:
        ModelError: if the model has no functional graph or a layer cannot be copied.
    """
    nodes = graph_nodes(model)
    tensors = {}
    new_inputs = []
    for t in model.inputs:
        layer = keras_history(t).layer
        new = keras.Input(batch_shape=t.shape, dtype=t.dtype, name=layer.name, sparse=getattr(t, "sparse", False),
                          ragged=getattr(t, "ragged", False))
        tensors[id(t)] = new
        new_inputs.append(new)
    copies = {}
    for node in nodes:
        layer = node.layer
        flat = tf.nest.flatten((node.call_args, list(node.call_kwargs.values())))
        missing = [t for t in flat if keras.backend.is_keras_tensor(t) and id(t) not in tensors]
        if missing:
            continue  # not computable from the model inputs (Keras skips these too)
        flat = [tensors[id(t)] if keras.backend.is_keras_tensor(t) else t for t in flat]
        args, kwargs = tf.nest.pack_sequence_as((node.call_args, list(node.call_kwargs.values())), flat)
        kwargs = dict(zip(node.call_kwargs.keys(), kwargs))
        if layer.name in replacements:
            outputs = replacements[layer.name](args, kwargs)
        else:
            if id(layer) not in copies:
                copies[id(layer)] = _fresh_copy(layer)
            outputs = copies[id(layer)](*args, **kwargs)
        old_out, new_out = tf.nest.flatten(node.outputs), tf.nest.flatten(outputs)
        if len(old_out) != len(new_out):
            raise ModelError(f"replacement of layer {layer.name!r} returned {len(new_out)} tensors; "
                             f"the layer had {len(old_out)}.")
        for old, new in zip(old_out, new_out):
            tensors[id(old)] = new
    for original in list(model.layers):
        if id(original) in copies:
            copies[id(original)].set_weights(original.get_weights())
    outputs = [tensors[id(t)] for t in model.outputs]
    return keras.Model(new_inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)


def _fresh_copy(layer):
    try:
        return layer.__class__.from_config(layer.get_config())
    except Exception as exc:  # custom layers without a usable get_config
        raise ModelError(f"cannot copy layer {layer.name!r} ({type(layer).__name__}) from its config: {exc}. "
                         "Give the layer a complete get_config() so that the model can be rebuilt.") from exc


def probe(model, tensors, batches):
    """Evaluate intermediate ``tensors`` of ``model`` batch by batch.

    Args:
        model: the functional model the tensors belong to.
        tensors: list of KerasTensors of ``model`` (e.g. layer inputs).
        batches: iterable of input batches (arrays, or ``(x, y)`` pairs whose ``x`` is used).

    Yields:
        for each batch, a list of NumPy arrays (one per tensor).

    Raises:
        ModelError: if ``batches`` yields nothing.
    """
    extractor = keras.Model(model.inputs, list(tensors))
    seen = False
    for batch in batches:
        x = batch[0] if isinstance(batch, tuple) else batch
        values = extractor(x, training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        seen = True
        yield [np.asarray(v) for v in values]
    if not seen:
        raise ModelError("no input batches were given to measure layer statistics; pass data with at least "
                         "one batch.")


__all__ = ["rebuild", "probe", "graph_nodes", "check_functional", "node_input_tensors"]
