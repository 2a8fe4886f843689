"""Inline nested sub-models into one flat functional model.

TFMOT refuses a model that uses another model as a layer ("Quantizing a keras
Model inside another keras Model is not supported").  ``flatten_model``
rebuilds such a model as one functional graph whose layers are copies of the
leaf layers, with the same weights, so it computes the same outputs.
"""

from tfcompress._compat import CompatError, is_graph_network, keras_history, nested_outputs, nodes_by_depth, \
    tensor_usage_count
from tfcompress._keras import keras, tf
from tfcompress.errors import ModelError


def has_nested_models(model):
    """True when any layer of ``model`` is itself a Keras model."""
    return any(isinstance(layer, keras.Model) for layer in model.layers)


def flatten_model(model, name=None):
    """Return a functional model with every nested functional/sequential sub-model inlined.

    Leaf layers are copied (``from_config`` + ``set_weights``), so the input model is left untouched
    and the copy has the same weights and outputs.  A layer shared between several call sites stays
    shared.  Names that would clash after inlining get the sub-model's name as a prefix.  A model
    without nested models is still copied (never returned as is).

    Args:
        model: a built ``tf_keras`` functional or sequential model.
        name: name of the new model. Defaults to the name of ``model``.

    Returns:
        A new functional ``tf_keras.Model``.

    Raises:
        ModelError: if ``model`` (or a nested model) is subclassed or not built, so its graph is unknown.

    Example:
        >>> from tfcompress import keras
        >>> inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="inner")
        >>> x = keras.Input((4,))
        >>> outer = keras.Model(x, keras.layers.Dense(2)(inner(x)))
        >>> [type(layer).__name__ for layer in flatten_model(outer).layers]
        ['InputLayer', 'Dense', 'Dense']
    """
    _check_graph(model)
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype, name=_input_name(t, i))
              for i, t in enumerate(model.inputs)]
    copies = {}
    used_names = {layer.name for layer in model.layers if not isinstance(layer, keras.Model)}
    outputs = _inline(model, inputs, copies, used_names, prefix="")
    flat = keras.Model(inputs, outputs, name=name or model.name)
    for original, copy in copies.values():
        copy.set_weights(original.get_weights())
    return flat


def _check_graph(model):
    if not isinstance(model, keras.Model):
        raise ModelError(f"flatten_model expects a tf_keras Model; received {type(model).__name__}. "
                         "Fix: build the model with tfcompress.keras.")
    if not is_graph_network(model):
        raise ModelError(f"model {model.name!r} ({type(model).__name__}) is subclassed or not built, so its layer "
                         "graph is unknown and it cannot be flattened. Fix: build it as a functional or "
                         "sequential model with a known input shape (keras.Input).")


def _input_name(tensor, index):
    try:
        return keras_history(tensor).layer.name
    except CompatError:
        return f"input_{index}"


def _inline(model, inputs, copies, used_names, prefix):
    """Call (copies of) the layers of ``model`` on ``inputs`` (a flat list); return its outputs."""
    _check_graph(model)
    usage = tensor_usage_count(model)
    tensors = {}
    for ref, value in zip(model.inputs, inputs):
        tensors[str(id(ref))] = [value] * usage[str(id(ref))]
    by_depth = nodes_by_depth(model)
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if node.is_input or any(t not in tensors for t in node.flat_input_ids):
                continue
            args, kwargs = node.map_arguments(tensors)
            layer = node.layer
            if isinstance(layer, keras.Model):
                _check_graph(layer)
                sub_inputs = tf.nest.flatten((args, {k: v for k, v in kwargs.items() if k != "training"}))
                if len(sub_inputs) != len(layer.inputs):
                    raise ModelError(f"nested model {layer.name!r} is called with {len(sub_inputs)} tensors but has "
                                     f"{len(layer.inputs)} inputs; cannot inline it. Fix: call it on exactly its "
                                     "inputs.")
                outputs = _inline(layer, sub_inputs, copies, used_names, prefix=f"{prefix}{layer.name}_")
            else:
                outputs = _copy_of(layer, copies, used_names, prefix)(*args, **kwargs)
            for ref_id, value in zip(node.flat_output_ids, tf.nest.flatten(outputs)):
                tensors[ref_id] = [value] * usage[ref_id]
    outputs = [tensors[str(id(ref))].pop() for ref in model.outputs]
    return tf.nest.pack_sequence_as(nested_outputs(model), outputs)


def _copy_of(layer, copies, used_names, prefix):
    """A fresh copy of ``layer`` (one per original layer, so sharing is kept), uniquely named."""
    if id(layer) in copies:
        return copies[id(layer)][1]
    config = layer.get_config()
    new_name = layer.name
    if prefix:
        new_name = layer.name if layer.name not in used_names else f"{prefix}{layer.name}"
        n = 1
        while new_name in used_names:
            new_name, n = f"{prefix}{layer.name}_{n}", n + 1
        used_names.add(new_name)
    config["name"] = new_name
    if isinstance(layer, keras.layers.Lambda) and new_name == layer.name:
        copy = layer  # weightless; re-creating a Python lambda from its config is refused by Keras' safe mode
    else:
        copy = type(layer).from_config(config)
    copies[id(layer)] = (layer, copy)
    return copy


__all__ = ["flatten_model", "has_nested_models"]
