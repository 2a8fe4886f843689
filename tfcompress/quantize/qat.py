"""Quantization-aware training through TFMOT, plain and collaborative.

``quantize_aware_model`` prepares a model for QAT with TFMOT's annotate/apply API:
nested sub-models are flattened first, ReLU layers are folded into the layer before them
(see ``fuse.py`` for the TFMOT behaviour this works around), layers named in ``skip_layers`` stay in float,
and layers TFMOT cannot quantize are found *before* any training and reported in one
``ModelError``.  ``preserve`` picks the TFMOT scheme:

* ``None``: ``Default8BitQuantizeScheme`` (plain QAT);
* ``"sparsity"``: ``Default8BitPrunePreserveQuantizeScheme`` (PQAT: zeros of a pruned
  model stay zero while fine-tuning);
* ``"clusters"``: ``Default8BitClusterPreserveQuantizeScheme`` (CQAT: each kernel keeps
  its clustered values, and its zeros when it was also pruned).
"""

from tfcompress._compat import is_graph_network
from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.quantize.configs import extra_config, scope_objects
from tfcompress.quantize.flatten import flatten_model, has_nested_models
from tfcompress.quantize.fuse import fuse_relu

import tensorflow_model_optimization as tfmot  # noqa: E402  (after tf_keras is selected)

PRESERVE_CHOICES = (None, "sparsity", "clusters")


def quantize_scheme(preserve=None):
    """The TFMOT ``QuantizeScheme`` for a ``preserve`` choice (``None``, ``"sparsity"`` or ``"clusters"``)."""
    if preserve is None:
        return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()
    if preserve == "sparsity":
        return tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    if preserve == "clusters":
        return tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)
    raise ConfigError(f"preserve must be one of {PRESERVE_CHOICES}; received {preserve!r}.")


def _prepare(model, skip_layers, fuse=True):
    """Strip pruning/clustering wrappers, flatten ``model`` if needed, validate ``skip_layers`` and fold
    ReLU layers (``fuse_relu``).

    Returns ``(functional_model, skip_set)``.
    """
    if not isinstance(model, keras.Model):
        raise ModelError(f"expected a tf_keras Model; received {type(model).__name__}. "
                         "Fix: build the model with tfcompress.keras.")
    if not is_graph_network(model):
        raise ModelError(f"model {model.name!r} is subclassed or not built; TFMOT quantizes only functional or "
                         "sequential models. Fix: rebuild it functionally with keras.Input.")
    model = strip_training_wrappers(model)
    if has_nested_models(model) or isinstance(model, keras.Sequential):
        model = flatten_model(model)
    skip = set(skip_layers or ())
    names = [layer.name for layer in model.layers]
    unknown = sorted(skip.difference(names))
    if unknown:
        raise ConfigError(f"skip_layers names layers that are not in the model: {unknown}. Valid layer names: "
                          f"{names}. (Layers of nested models keep their names, or get the sub-model's name as a "
                          "prefix when it clashes.)")
    if fuse and not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers):
        model, _ = fuse_relu(model, keep=skip)  # Lambda models are refused below; they cannot be re-created
    return model, skip


def strip_training_wrappers(model):
    """Strip TFMOT pruning and clustering wrappers left in ``model`` (QAT needs the plain layers)."""
    kinds = {type(layer).__name__ for layer in model.layers}
    if "PruneLowMagnitude" in kinds:
        model = tfmot.sparsity.keras.strip_pruning(model)
    if any(kind.startswith("ClusterWeights") for kind in kinds):
        model = tfmot.clustering.keras.strip_clustering(model)
    return model


def _annotated(layer, skip):
    return not isinstance(layer, keras.layers.InputLayer) and layer.name not in skip


def unquantizable_layers(model, skip_layers=None, preserve=None):
    """Layers that TFMOT's scheme cannot quantize, as ``[(name, class name), ...]``.

    The check runs TFMOT's own layout transform (e.g. Conv+BatchNorm folding) and asks the
    scheme's registry about every layer that would be quantized, so it matches what
    ``quantize_apply`` would do, without training anything.  ``Lambda`` layers are reported
    too: TFMOT cannot clone them.

    Args:
        model: a functional or sequential ``tf_keras`` model (nested models are flattened).
        skip_layers: names of layers left in float. Defaults to None.
        preserve: ``None``, ``"sparsity"`` or ``"clusters"`` (see module docstring). Defaults to None.
    """
    model, skip = _prepare(model, skip_layers, fuse=False)
    lambdas = [(layer.name, type(layer).__name__) for layer in model.layers
               if isinstance(layer, keras.layers.Lambda)]
    if lambdas:
        return lambdas
    scheme = quantize_scheme(preserve)
    layer_map = {layer.name: {} for layer in model.layers if _annotated(layer, skip)}
    transformed, layer_map = scheme.get_layout_transformer().apply(model, layer_map)
    registry = scheme.get_quantize_registry()
    return [(layer.name, type(layer).__name__) for layer in transformed.layers
            if layer.name in layer_map and not isinstance(layer, keras.layers.InputLayer)
            and not layer_map[layer.name].get("quantize_config") and not registry.supports(layer)
            and extra_config(layer, registry) is None]


def quantize_aware_model(model, skip_layers=None, preserve=None):
    """Return a new QAT model (TFMOT fake-quant wrappers) built from ``model``'s weights.

    Args:
        model: a trained functional or sequential ``tf_keras`` model; nested sub-models are inlined
            with ``flatten_model`` and stand-alone ReLU layers folded into the Dense/Conv before them
            (``fuse_relu``: same function, but TFMOT then quantizes those kernels).  For ``preserve="sparsity"`` pass a pruned model with the pruning
            wrappers stripped; for ``"clusters"`` a clustered, stripped model (wrappers still in place
            are stripped here).
        skip_layers: names of layers to leave unannotated (they stay float). Defaults to None.
        preserve: ``None`` (plain QAT), ``"sparsity"`` (PQAT) or ``"clusters"`` (CQAT). Defaults to None.

    Returns:
        A ``tf_keras`` model ready for fine-tuning; ``model`` itself is not changed.

    Raises:
        ModelError: a layer TFMOT cannot quantize (all such layers are named), or a subclassed model.
        ConfigError: ``skip_layers`` names an unknown layer, or ``preserve`` is invalid.
    """
    model, skip = _prepare(model, skip_layers)
    bad = unquantizable_layers(model, skip_layers=skip, preserve=preserve)
    if bad:
        listed = ", ".join(f"{name} ({cls})" for name, cls in bad)
        lambdas = [name for name, cls in bad if cls == "Lambda"]
        fix = ("replace each Lambda layer with a small custom layer class (TFMOT cannot clone Python lambdas)"
               if lambdas else
               f"leave them in float with skip_layers={[name for name, _ in bad]} (the int8 export then keeps "
               "float ops, or fails a fully-integer check), or replace them with supported layers")
        raise ModelError(f"TFMOT cannot quantize these layers: {listed}. Fix: {fix}.")

    registry = quantize_scheme(preserve).get_quantize_registry()

    def annotate(layer):
        if _annotated(layer, skip):  # Multiply and Rescaling get an output-only config TFMOT lacks
            return tfmot.quantization.keras.quantize_annotate_layer(layer, extra_config(layer, registry))
        return layer

    annotated = keras.models.clone_model(model, clone_function=annotate)
    with tfmot.quantization.keras.quantize_scope(scope_objects()):
        return tfmot.quantization.keras.quantize_apply(annotated, quantize_scheme(preserve))


def strip_cluster_preserve(model):
    """Remove CQAT's training variables, keeping the QAT wrappers (and their ranges) for the converter."""
    return tfmot.experimental.combine.strip_clustering_cqat(model)


def count_quantized_layers(model):
    """Number of layers wrapped by TFMOT's ``QuantizeWrapper`` in ``model``."""
    wrapper = tfmot.quantization.keras.QuantizeWrapper
    return sum(isinstance(layer, wrapper) for layer in model.layers)


__all__ = ["PRESERVE_CHOICES", "quantize_scheme", "strip_training_wrappers", "unquantizable_layers", "quantize_aware_model",
           "strip_cluster_preserve", "count_quantized_layers"]
