"""Give a Keras 3 user the compressed student back in Keras 3: ``to_keras3``, the inverse of ``to_tf_keras``.

tfcompress works in tf_keras (TFMOT needs it). ``to_keras3`` rebuilds a plain (float, unwrapped) tf_keras
Sequential or functional model layer by layer in Keras 3: each layer's config is translated to the Keras 3
class of the same name, the graph is rebuilt from the functional config, the weights are copied, and both
models are run on the same inputs to check that they agree. A layer that cannot be carried (a TFMOT wrapper, a
``TFOpLambda`` from ``x + y`` written on tensors, a custom layer) is named in the error.
"""

import inspect

import numpy as np

from tfcompress._keras import keras
from tfcompress.errors import ModelError

#: tf_keras config keys that Keras 3 renamed.
_RENAMED = {("LeakyReLU", "alpha"): "negative_slope"}
#: tf_keras config keys Keras 3 lacks that change nothing when they hold these values.
_HARMLESS = {"fused": None, "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
             "virtual_batch_size": None, "groups": 1, "adjustment": None, "dynamic": False, "batch_input_shape": None}


def _keras3():
    try:
        import keras as keras3
    except ImportError:  # pragma: no cover - KerasTuner installs it
        raise ModelError("Keras 3 (the `keras` package) is not installed; install it to get a Keras 3 model back "
                         "(pip install keras).") from None
    return keras3


def _accepted(cls):
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names | {"name", "trainable", "dtype"}


def _layer_class(keras3, layer):
    name = type(layer).__name__
    module = type(layer).__module__
    cls = getattr(keras3.layers, name, None)
    if cls is None or not module.startswith("tf_keras."):
        raise ModelError(f"layer {layer.name!r} ({name}) cannot be carried to Keras 3: expected a built-in tf_keras "
                         "layer (TFMOT wrappers, TFOpLambda layers made by writing `x + y` on Keras tensors, "
                         "Lambda and custom layers have no Keras 3 counterpart here). Fix: use the float model of "
                         "the last stage without quantization wrappers, written with Keras layers.")
    return cls


def _plain(value):
    """tf_keras's tracked ``ListWrapper``/``DictWrapper`` values as plain lists and dicts."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListWrapper":
        return [_plain(v) for v in value]
    return value


def _config(layer, cls):
    accepted = _accepted(cls)
    out = {}
    for key, value in layer.get_config().items():
        key = _RENAMED.get((type(layer).__name__, key), key)
        value = _plain(value)
        if key == "axis" and isinstance(value, list) and len(value) == 1:  # Keras 3 normalization wants an int
            value = value[0]
        if key in accepted:
            out[key] = value
        elif not (key in _HARMLESS and value == _HARMLESS[key]) and value not in (None, False):
            raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}): option {key}={value!r} has no Keras 3 "
                             "counterpart; expected a layer without it.")
    return out


def _new_layer(keras3, layer):
    cls = _layer_class(keras3, layer)
    config = _config(layer, cls)
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}): Keras 3 refused its config ({exc}).") from None


def _rebuild_functional(keras3, model):
    config = model.get_config()
    tensors, pairs = {}, []
    for entry in config["layers"]:
        layer = model.get_layer(entry["name"])
        if entry["class_name"] == "InputLayer":
            shape = entry["config"]["batch_input_shape"]
            tensors[(entry["name"], 0, 0)] = keras3.Input(batch_shape=tuple(shape), dtype=entry["config"].get("dtype"),
                                                          name=entry["name"])
            continue
        if isinstance(layer, keras.Model):
            raise ModelError(f"layer {layer.name!r} is a nested model; flatten the model first "
                             "(tfcompress.flatten_model).")
        new = _new_layer(keras3, layer)
        pairs.append((layer, new))
        if len(entry["inbound_nodes"]) != 1:
            raise ModelError(f"layer {layer.name!r} is called {len(entry['inbound_nodes'])} times (a shared layer); "
                             "expected each layer once.")
        node = entry["inbound_nodes"][0]
        args = [tensors[(n, i, t)] for n, i, t, *_ in node]
        kwargs = {k: v for k, v in (node[0][3] if len(node[0]) > 3 else {}).items() if k != "training"}
        out = new(args if len(args) > 1 else args[0], **kwargs)
        tensors[(entry["name"], 0, 0)] = out
    inputs = [tensors[tuple(h)] for h in config["input_layers"]]
    outputs = [tensors[tuple(h)] for h in config["output_layers"]]
    return keras3.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                        name=model.name), pairs


def _rebuild_sequential(keras3, model):
    new = keras3.Sequential(name=model.name)
    new.add(keras3.Input(batch_shape=tuple(model.input_shape)))
    pairs = []
    for layer in model.layers:
        converted = _new_layer(keras3, layer)
        new.add(converted)
        pairs.append((layer, converted))
    return new, pairs


def to_keras3(model, sample_inputs=None, atol=1e-5):
    """A Keras 3 model equal to a plain tf_keras model (the inverse of ``to_tf_keras``).

    Args:
        model: a tf_keras Sequential or functional model without training wrappers.
        sample_inputs: inputs for the check (an array); None for two random samples. Defaults to None.
        atol: absolute tolerance of the output check (plus 1e-5 relative). Defaults to 1e-5.

    Returns:
        A Keras 3 model (``keras.Model``), uncompiled, with the same weights.

    Raises:
        ModelError: a layer that cannot be carried (named), a subclassed model, or outputs that differ.
    """
    keras3 = _keras3()
    if not isinstance(model, keras.Model):
        raise ModelError(f"to_keras3 expects a tf_keras model, received {type(model).__module__}."
                         f"{type(model).__name__}.")
    if isinstance(model, keras.Sequential):
        new, pairs = _rebuild_sequential(keras3, model)
    elif model.__class__.__name__ == "Functional" or type(model) is keras.Model:
        new, pairs = _rebuild_functional(keras3, model)
    else:
        raise ModelError(f"model {model.name!r} ({type(model).__name__}) is subclassed; expected a Sequential or "
                         "functional tf_keras model.")
    for src, dst in pairs:
        weights = src.get_weights()
        if [w.shape for w in weights] != [tuple(v.shape) for v in dst.weights]:
            raise ModelError(f"layer {src.name!r} ({type(src).__name__}): weights {[w.shape for w in weights]} do "
                             f"not fit the Keras 3 layer's {[tuple(v.shape) for v in dst.weights]}.")
        dst.set_weights(weights)
    _check_same(model, new, sample_inputs, atol)
    return new


def _check_same(model, new, sample_inputs, atol):
    if sample_inputs is None:
        shape = [2] + [8 if d is None else int(d) for d in model.input_shape[1:]]
        sample_inputs = np.random.default_rng(0).normal(size=shape).astype("float32")
    want = np.asarray(model(sample_inputs, training=False))
    got = np.asarray(new(sample_inputs, training=False))
    if want.shape != got.shape or not np.allclose(want, got, atol=atol, rtol=1e-5):
        diff = float(np.max(np.abs(want - got))) if want.shape == got.shape else float("nan")
        raise ModelError(f"model {model.name!r}: the Keras 3 copy computes differently (max abs difference "
                         f"{diff:.3g}, atol {atol}); expected equal outputs.")


__all__ = ["to_keras3"]
