"""Which layers of a model are pruned: prunable kernels, exclusions and per-layer targets.

Every pruning technique in this subpackage works on the *kernels* of weight
layers (Dense, Conv1D/2D/3D, DepthwiseConv2D, SeparableConv1D/2D, Embedding);
biases and BatchNorm parameters are never pruned.  Users name layers to leave
alone in ``exclude``; two keywords stand for layers that are best left dense in
most networks:

* ``"first_conv"``: the first convolution (it sees the raw input and has few
  weights, so pruning it costs accuracy and saves little);
* ``"classifier"``: the last weight layer (it makes the logits).
"""

from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.stage import check_names

FIRST_CONV = "first_conv"
CLASSIFIER = "classifier"
DEFAULT_EXCLUDE = (FIRST_CONV, CLASSIFIER)

#: What a sparsity must be, in stage messages.
SPARSITY = "a number in [0, 1) (the share of kernel weights set to zero; 0.75 keeps a quarter)"

KERNEL_ATTRS = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")

_CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.DepthwiseConv2D,
               keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)


def kernel_variables(layer):
    """The kernel variables of ``layer`` (empty for layers without kernels), e.g. ``[layer.kernel]``.

    A TFMOT pruning wrapper is looked through: the kernels of the wrapped layer are returned.
    """
    layer = getattr(layer, "layer", layer) if _is_prune_wrapper(layer) else layer
    if isinstance(layer, keras.Model):
        return []
    found = []
    for attr in KERNEL_ATTRS:
        var = getattr(layer, attr, None)
        if var is not None and hasattr(var, "shape") and hasattr(var, "assign"):
            found.append(var)
    return found


def weight_layers(model):
    """Layers of ``model`` (top level, in model order) that hold at least one kernel."""
    check_model(model)
    return [layer for layer in model.layers if kernel_variables(layer)]


def resolve_exclude(model, exclude):
    """Turn ``exclude`` (layer names and the keywords ``first_conv`` / ``classifier``) into layer names.

    Args:
        model: a built ``tf_keras`` model.
        exclude: iterable of layer names and keywords; None or empty for no exclusions.

    Returns:
        A set of layer names.

    Raises:
        ConfigError: a name is neither a keyword nor a layer of the model.
    """
    layers = weight_layers(model)
    names = set()
    for item in ([exclude] if isinstance(exclude, str) else exclude or ()):
        if item == FIRST_CONV:
            convs = [layer for layer in layers if isinstance(_unwrap(layer), _CONV_TYPES)]
            if convs:
                names.add(convs[0].name)
        elif item == CLASSIFIER:
            if layers:
                names.add(layers[-1].name)
        else:
            _check_name(model, item, "exclude")
            names.add(item)
    return names


def layer_targets(model, sparsity, layer_sparsity=None, exclude=DEFAULT_EXCLUDE):
    """Target sparsity of each prunable layer: ``layer_sparsity`` overrides, excluded layers dropped.

    Args:
        model: a built ``tf_keras`` model.
        sparsity: share of each layer's kernel weights set to zero, in [0, 1).
        layer_sparsity: dict layer name -> sparsity overriding ``sparsity``. Defaults to None.
        exclude: layers left dense (names or keywords, see module doc). A layer named in
            ``layer_sparsity`` is pruned even if a keyword would exclude it. Defaults to DEFAULT_EXCLUDE.

    Returns:
        dict layer name -> sparsity, only for layers that will be pruned (sparsity > 0).

    Raises:
        ConfigError: a sparsity is outside [0, 1) or a layer name is unknown.
    """
    check_sparsity(sparsity, "sparsity")
    layer_sparsity = dict(layer_sparsity or {})
    for name, value in layer_sparsity.items():
        _check_name(model, name, "layer_sparsity")
        check_sparsity(value, f"layer_sparsity[{name!r}]")
    excluded = resolve_exclude(model, exclude) - set(layer_sparsity)
    targets = {}
    for layer in weight_layers(model):
        value = layer_sparsity.get(layer.name, sparsity)
        if layer.name not in excluded and value > 0:
            targets[layer.name] = float(value)
    return targets


def check_sparsity(value, what):
    """Raise ConfigError unless ``value`` is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{what} must be a number in [0, 1) (the share of weights set to zero); "
                          f"received {value!r}. Example: 0.75 keeps a quarter of the weights.")


def check_exclude(stage, exclude):
    """For stage constructors: ConfigError naming ``stage`` unless ``exclude`` is None, a name or a list of names."""
    return check_names(stage, "exclude", exclude, allow_str=True,
                       what=f"a layer name or a list of layer names and the keywords {FIRST_CONV!r}, {CLASSIFIER!r}")


def copy_model(model):
    """A functional/Sequential copy of ``model`` with its own layers and the same weights."""
    check_model(model)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _check_name(model, name, what):
    valid = [layer.name for layer in weight_layers(model)]
    if name not in valid:
        raise ConfigError(f"{what} names layer {name!r}, which is not a weight layer of model {model.name!r}. "
                          f"Valid names: {', '.join(valid)} (or the keywords {FIRST_CONV!r}, {CLASSIFIER!r} "
                          "in exclude).")


def check_model(model):
    """Raise ModelError unless ``model`` is a built tf_keras Model."""
    if not isinstance(model, keras.Model):
        raise ModelError(f"expected a tf_keras Model (build it with tfcompress.keras); received "
                         f"{type(model).__module__}.{type(model).__name__}.")
    if not model.built:
        raise ModelError(f"model {model.name!r} is not built; call it on data or give it an Input first.")


def _is_prune_wrapper(layer):
    return type(layer).__name__ == "PruneLowMagnitude" and hasattr(layer, "layer")


def _unwrap(layer):
    return layer.layer if _is_prune_wrapper(layer) else layer
