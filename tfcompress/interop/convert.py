"""Bring Keras 3 models and files into tf_keras, which TFMOT needs.

Most users train with Keras 3 (the standalone ``keras`` package) while TFMOT
only works with ``tf_keras``, and ``tf_keras`` cannot read a Keras 3 ``.keras``
file.  :func:`to_tf_keras` rebuilds a Keras 3 Sequential or Functional model
layer by layer as an equivalent ``tf_keras`` model (configs translated, graph
rebuilt from the Keras 3 functional config, weights copied) and checks that
both give the same outputs.

Example:
    >>> import keras as keras3                                   # doctest: +SKIP
    >>> k3 = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2)])  # doctest: +SKIP
    >>> model = to_tf_keras(k3)                                  # doctest: +SKIP
"""

import inspect
import warnings

import numpy as np

from tfcompress._compat import is_keras3_class
from tfcompress._keras import keras, tf
from tfcompress.errors import ModelError

__all__ = ["to_tf_keras", "is_tf_keras_model", "SUPPORTED_LAYERS"]

#: Keras 3 layer class names that :func:`to_tf_keras` carries over (each maps to the same tf_keras class name).
SUPPORTED_LAYERS = (
    "InputLayer", "Dense", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization",
    "LayerNormalization", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Activation",
    "ReLU", "LeakyReLU", "Softmax", "Dropout", "SpatialDropout2D", "Flatten", "Reshape", "Permute", "Add",
    "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Rescaling", "ZeroPadding1D",
    "ZeroPadding2D", "Cropping2D", "UpSampling2D",
)

# Keyword arguments every tf_keras layer takes through ``Layer.__init__(**kwargs)``.
_BASE_LAYER_KWARGS = {"name", "trainable", "dtype", "dynamic", "input_shape", "batch_input_shape", "batch_size",
                      "input_dim", "weights", "activity_regularizer", "autocast"}
# Keras 3 config keys with no tf_keras counterpart that never change what a converted layer computes.
_IGNORABLE_KEYS = {"optional", "seed"}
# Keras 3 options that tf_keras lacks on some layers but that then equal what tf_keras always does.
_DEFAULT_VALUES = {"data_format": "channels_last"}
_OBJECT_MODULES = {"initializer": "initializers", "regularizer": "regularizers", "constraint": "constraints"}


def is_tf_keras_model(obj):
    """True if ``obj`` is a ``tf_keras`` model (the flavour TFMOT accepts)."""
    return isinstance(obj, keras.Model)


def _keras3_kind(obj):
    """"Sequential", "Functional" or "Model" for a Keras 3 model, None for anything else."""
    kinds = {klass.__name__ for klass in type(obj).__mro__ if is_keras3_class(klass, "models")}
    for kind in ("Sequential", "Functional", "Model"):
        if kind in kinds:
            return kind
    return None


def _supported_message():
    return "supported layers: " + ", ".join(SUPPORTED_LAYERS) + " (and nested Sequential/Functional models)"


def _accepted_kwargs(cls):
    """Every keyword argument a tf_keras layer class accepts (union of the ``__init__`` signatures in its MRO)."""
    names = set(_BASE_LAYER_KWARGS)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
        if klass is keras.layers.Layer:
            break
    return names


def _is_keras3_object(value):
    return isinstance(value, dict) and "class_name" in value and "config" in value and "module" in value


def _translate_object(layer, key, value):
    """An initializer/regularizer/constraint config in Keras 3 form -> tf_keras form (None to use the default)."""
    kind = key.rsplit("_", 1)[-1]
    module = getattr(keras, _OBJECT_MODULES[kind])
    cls = getattr(module, value["class_name"], None)
    if cls is None or value.get("registered_name") not in (None, value["class_name"]):
        if kind == "initializer":  # weights are copied, so an initializer only matters for re-initialisation
            return None
        raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}): {key} {value['class_name']!r} has no "
                         f"tf_keras counterpart; expected a built-in {kind}. Fix: remove it before converting.")
    accepted = _accepted_kwargs(cls) if isinstance(cls, type) else set()
    config = {k: v for k, v in (value.get("config") or {}).items() if k in accepted}
    return {"class_name": value["class_name"], "config": config}


def _dtype_name(layer, value):
    if isinstance(value, dict):
        name = (value.get("config") or {}).get("name")
        if "Quantized" in value.get("class_name", "") or not isinstance(name, str):
            raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}): dtype policy {value!r} cannot be "
                             "carried over; expected a float policy. Fix: convert the float model, then quantize.")
        return name
    return value


def _translate_config(layer, class_name, config):
    """A Keras 3 layer config -> keyword arguments for the tf_keras class of the same name."""
    cls = getattr(keras.layers, class_name)
    accepted = _accepted_kwargs(cls)
    out = {}
    for key, value in config.items():
        if key == "dtype":
            value = _dtype_name(layer, value)
        elif key == "batch_shape":
            key = "batch_input_shape"
        elif class_name == "LeakyReLU" and key == "negative_slope":
            key = "alpha"
        elif _is_keras3_object(value) and key.rsplit("_", 1)[-1] in _OBJECT_MODULES:
            value = _translate_object(layer, key, value)
            if value is None:
                continue
        elif _is_keras3_object(value):
            raise ModelError(f"layer {layer.name!r} ({class_name}): option {key}={value.get('class_name')!r} is a "
                             "custom object that cannot be carried over to tf_keras; expected a built-in value.")
        if key in accepted:
            out[key] = value
        elif not (value is None or value is False or key in _IGNORABLE_KEYS or _DEFAULT_VALUES.get(key) == value):
            raise ModelError(f"layer {layer.name!r} ({class_name}): Keras 3 option {key}={value!r} has no tf_keras "
                             "counterpart; expected a layer without it. Fix: rebuild the layer without this option.")
    return cls, out


def _copy_weights(src, dst):
    weights = src.get_weights()
    shapes = [tuple(w.shape) for w in dst.weights]
    if [tuple(np.shape(w)) for w in weights] != shapes:
        raise ModelError(f"layer {src.name!r} ({type(src).__name__}): weights have shapes "
                         f"{[tuple(np.shape(w)) for w in weights]} but the tf_keras layer expects {shapes}.")
    dst.set_weights(weights)


def _convert_layer(layer):
    """A fresh, unbuilt tf_keras layer (or an already-weighted tf_keras model for a nested model)."""
    if _keras3_kind(layer) is not None:
        return _convert_model(layer)
    class_name = type(layer).__name__
    if class_name not in SUPPORTED_LAYERS or not is_keras3_class(type(layer)):
        raise ModelError(f"layer {layer.name!r} ({class_name}) cannot be converted to tf_keras; "
                         f"{_supported_message()}. Fix: replace the layer, or build the model with tf_keras.")
    cls, config = _translate_config(layer, class_name, layer.get_config())
    try:
        return cls(**config)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"layer {layer.name!r} ({class_name}): tf_keras refused its config ({exc}).") from None


def _is_history(value):
    return (isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:]))


def _map_structure(fn, value):
    if _is_history(value):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_structure(fn, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_structure(fn, v) for v in value]
    return value


def _resolve_args(value, tensors):
    """Replace ``__keras_tensor__`` entries of a node's args/kwargs with the rebuilt tf_keras tensors."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = tuple(value["config"]["keras_history"])
        if history not in tensors:
            raise KeyError(history)
        return tensors[history]
    if isinstance(value, dict):
        return {k: _resolve_args(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve_args(v, tensors) for v in value]
    return value


def _convert_functional(model):
    config = model.get_config()
    tensors, new_layers, pending = {}, {}, []
    for entry in config["layers"]:
        layer = model.get_layer(entry["name"])
        if entry["class_name"] == "InputLayer":
            _, kwargs = _translate_config(layer, "InputLayer", entry["config"])
            shape = kwargs.pop("batch_input_shape")
            tensors[(entry["name"], 0, 0)] = keras.Input(batch_shape=shape, dtype=kwargs.get("dtype"),
                                                         sparse=kwargs.get("sparse"), name=entry["name"])
            continue
        new_layers[entry["name"]] = (layer, _convert_layer(layer))
        pending.extend((entry["name"], i, node) for i, node in enumerate(entry["inbound_nodes"]))
    while pending:  # config order is topological in practice; loop anyway for shared layers called later
        remaining = []
        for name, index, node in pending:
            try:
                args = _resolve_args(node.get("args", []), tensors)
                kwargs = _resolve_args(node.get("kwargs", {}), tensors)
            except KeyError:
                remaining.append((name, index, node))
                continue
            kwargs = {k: v for k, v in kwargs.items() if not (k == "mask" and v is None)}
            out = new_layers[name][1](*args, **kwargs)
            for t, tensor in enumerate(out if isinstance(out, (list, tuple)) else [out]):
                tensors[(name, index, t)] = tensor
        if len(remaining) == len(pending):
            raise ModelError(f"model {model.name!r}: could not rebuild the graph; layers {[p[0] for p in pending]} "
                             "have inputs that no other layer produces.")
        pending = remaining
    inputs = _map_structure(lambda h: tensors[tuple(h)], config["input_layers"])
    outputs = _map_structure(lambda h: tensors[tuple(h)], config["output_layers"])
    new = keras.Model(inputs, outputs, name=model.name)
    for src, dst in new_layers.values():
        if not is_tf_keras_model(dst):  # nested models got their weights when converted
            _copy_weights(src, dst)
    return new


def _convert_sequential(model):
    config = model.get_config()
    first = config["layers"][0] if config["layers"] else {}
    if first.get("class_name") == "InputLayer":
        _, kwargs = _translate_config(model, "InputLayer", first["config"])
        shape, dtype, name = kwargs["batch_input_shape"], kwargs.get("dtype"), first["config"].get("name")
    elif config.get("build_input_shape") is not None:
        shape, dtype, name = config["build_input_shape"], None, None
    else:
        raise ModelError(f"Sequential model {model.name!r} is not built, so its input shape is unknown; expected a "
                         "built model. Fix: start it with keras.Input(shape) or call model.build(input_shape).")
    new = keras.Sequential(name=model.name)
    new.add(keras.Input(batch_shape=tuple(shape), dtype=dtype, name=name))
    pairs = []
    for layer in model.layers:
        converted = _convert_layer(layer)
        new.add(converted)
        pairs.append((layer, converted))
    for src, dst in pairs:
        if not is_tf_keras_model(dst):
            _copy_weights(src, dst)
    return new


def _convert_model(model):
    kind = _keras3_kind(model)
    if kind == "Sequential":
        return _convert_sequential(model)
    if kind == "Functional":
        return _convert_functional(model)
    raise ModelError(f"model {model.name!r} ({type(model).__name__}) is a subclassed Keras 3 model; expected a "
                     "Sequential or Functional model, whose layers can be rebuilt. Fix: rebuild it with "
                     "keras.Input(...) and layer calls, or with tf_keras directly.")


def _to_numpy_list(outputs):
    flat = tf.nest.flatten(outputs)
    return [np.asarray(o.numpy() if hasattr(o, "numpy") else o) for o in flat]


def _sample_inputs(new):
    rng = np.random.default_rng(0)
    samples = []
    for tensor in new.inputs:
        shape = [2] + [8 if d is None else int(d) for d in tensor.shape[1:]]
        if tensor.dtype.is_integer or tensor.dtype.is_bool:
            samples.append(rng.integers(0, 2, size=shape).astype(tensor.dtype.as_numpy_dtype))
        else:
            samples.append(rng.normal(size=shape).astype(tensor.dtype.as_numpy_dtype))
    return samples[0] if len(samples) == 1 else samples


def _verify(model, new, sample_inputs, atol):
    x = _sample_inputs(new) if sample_inputs is None else sample_inputs
    try:
        with warnings.catch_warnings():  # Keras 3 warns when one array is given to a model built with [input]
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            want = _to_numpy_list(model(x, training=False))
    except Exception as exc:  # noqa: BLE001 - any failure here means the generated inputs do not fit
        raise ModelError(f"model {model.name!r}: could not run the Keras 3 model on "
                         f"{'generated' if sample_inputs is None else 'the given'} sample inputs "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                         "expected inputs it accepts. Fix: pass sample_inputs=...") from None
    got = _to_numpy_list(new(x, training=False))
    if len(want) != len(got):
        raise ModelError(f"model {model.name!r}: Keras 3 model gives {len(want)} outputs, tf_keras copy {len(got)}.")
    for i, (a, b) in enumerate(zip(want, got)):
        if a.shape != b.shape or not np.allclose(a, b, atol=atol, rtol=1e-5):
            diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("nan")
            raise ModelError(f"model {model.name!r}: output {i} of the tf_keras copy differs from the Keras 3 model "
                             f"(shapes {a.shape} vs {b.shape}, max abs difference {diff:.3g}, atol {atol}); "
                             "expected equal outputs. Fix: report the layer types involved, or build with tf_keras.")


def to_tf_keras(model, sample_inputs=None, atol=1e-5):
    """Rebuild a Keras 3 model as an equivalent ``tf_keras`` model with the same weights.

    Sequential and Functional models (DAGs with Add/Concatenate, shared layers and nested models
    included) are rebuilt layer by layer: each layer's config is translated (``batch_shape`` ->
    ``batch_input_shape``, dtype policies -> dtype names, Keras 3 initializer/regularizer/constraint
    configs -> tf_keras ones), the graph is rebuilt from the functional config, weights are copied,
    and both models are run on the same inputs to check they agree.

    Args:
        model: a Keras 3 model, or a tf_keras model (returned unchanged).
        sample_inputs: inputs for the check (array, or list of arrays for several inputs). Defaults to
            None: two random samples generated from the input shape (unknown dims set to 8).
        atol: absolute tolerance of the output check (a relative tolerance of 1e-5 is added). Defaults to 1e-5.

    Returns:
        A ``tf_keras`` model (Sequential for a Sequential, functional otherwise), uncompiled.

    Raises:
        ModelError: ``model`` is not a Keras model, is subclassed, holds a layer that cannot be carried
            over (named, with the list of supported layers), or the outputs differ beyond ``atol``.
    """
    if is_tf_keras_model(model):
        return model
    if _keras3_kind(model) is None:
        raise ModelError(f"expected a Keras 3 or tf_keras model, received {type(model).__module__}."
                         f"{type(model).__name__}. Fix: pass a keras.Model or a path to load_model().")
    new = _convert_model(model)
    _verify(model, new, sample_inputs, atol)
    return new
