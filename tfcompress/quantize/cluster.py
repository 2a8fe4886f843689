"""Weight clustering (non-linear quantization) through TFMOT.

``cluster_model`` wraps the layers of a model with TFMOT's clustering wrapper
(``tfmot.clustering.keras.cluster_weights``), layer by layer so that named layers can
be left alone; after fine-tuning, ``strip_clustering`` leaves a plain model whose
kernels hold at most ``number_of_clusters`` distinct values each.
"""

from tfcompress._compat import is_graph_network
from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.quantize.flatten import flatten_model, has_nested_models

import tensorflow_model_optimization as tfmot  # noqa: E402  (after tf_keras is selected)

_CentroidInit = tfmot.clustering.keras.CentroidInitialization

#: Centroid initialisation names accepted by ``cluster_model`` and the "cluster" stage.
CENTROID_INITS = {
    "linear": _CentroidInit.LINEAR,
    "kmeans++": _CentroidInit.KMEANS_PLUS_PLUS,
    "density-based": _CentroidInit.DENSITY_BASED,
    "random": _CentroidInit.RANDOM,
}


def centroid_init(name):
    """TFMOT's ``CentroidInitialization`` for a name in ``CENTROID_INITS``."""
    try:
        return CENTROID_INITS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"centroid initialisation must be one of {sorted(CENTROID_INITS)}; received "
                          f"{name!r}.") from None


def copy_model(model):
    """A functional/sequential copy of ``model`` with the same weights (nested models flattened)."""
    if has_nested_models(model):
        return flatten_model(model)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def cluster_model(model, number_of_clusters=16, init="kmeans++", skip_layers=None, preserve_sparsity=False):
    """Wrap every layer of a copy of ``model`` (except ``skip_layers``) for weight clustering.

    Layers without clusterable weights (pooling, BatchNorm, ...) are wrapped harmlessly by TFMOT;
    Conv2D layers with fewer weights than clusters are left as they are (TFMOT's rule).

    Args:
        model: a trained functional or sequential ``tf_keras`` model; it is not changed.
        number_of_clusters: distinct values per kernel after clustering (>= 2). Defaults to 16.
        init: centroid initialisation, one of ``"linear"``, ``"kmeans++"``, ``"density-based"``,
            ``"random"``. Defaults to "kmeans++".
        skip_layers: names of layers to leave unclustered (e.g. the first conv or the classifier).
            Defaults to None.
        preserve_sparsity: keep zero weights of a pruned model at zero (sparsity-preserving
            clustering). Defaults to False.

    Returns:
        A new model with clustering wrappers; fine-tune it, then call ``strip_clustering``.

    Raises:
        ConfigError: invalid ``number_of_clusters``, ``init`` or unknown ``skip_layers`` names.
        ModelError: layers TFMOT cannot cluster (all named in the message).
    """
    if not isinstance(number_of_clusters, int) or isinstance(number_of_clusters, bool) or number_of_clusters < 2:
        raise ConfigError(f"number_of_clusters must be an integer >= 2; received {number_of_clusters!r}.")
    if preserve_sparsity and number_of_clusters < 3:
        raise ConfigError(f"sparsity-preserving clustering needs number_of_clusters >= 3 (one centroid is pinned "
                          f"at zero); received {number_of_clusters}.")
    init_enum = centroid_init(init)
    if not isinstance(model, keras.Model) or not is_graph_network(model):
        raise ModelError(f"cluster_model expects a functional or sequential tf_keras model; received "
                         f"{type(model).__name__}. Fix: build it with tfcompress.keras and keras.Input.")
    model = copy_model(model)
    skip = set(skip_layers or ())
    names = [layer.name for layer in model.layers]
    unknown = sorted(skip.difference(names))
    if unknown:
        raise ConfigError(f"skip_layers names layers that are not in the model: {unknown}. Valid layer "
                          f"names: {names}.")
    failed = []

    def wrap(layer):
        if layer.name in skip:
            return layer
        try:
            return tfmot.clustering.keras.cluster_weights(
                layer, number_of_clusters=number_of_clusters, cluster_centroids_init=init_enum,
                preserve_sparsity=preserve_sparsity)
        except ValueError as exc:
            failed.append((layer.name, type(layer).__name__, str(exc).splitlines()[0]))
            return layer

    with tfmot.clustering.keras.cluster_scope():
        clustered = keras.models.clone_model(model, clone_function=wrap)
    if failed:
        listed = "; ".join(f"{n} ({c}): {why}" for n, c, why in failed)
        raise ModelError(f"TFMOT cannot cluster these layers: {listed}. Fix: leave them unclustered with "
                         f"skip_layers={[n for n, _, _ in failed]}.")
    return clustered


def strip_clustering(model):
    """Remove the clustering wrappers; the returned plain model keeps the clustered weights."""
    return tfmot.clustering.keras.strip_clustering(model)


def count_clustered_layers(model):
    """Number of layers of ``model`` whose weights are being clustered.

    Layers without clusterable weights (ReLU, pooling) are wrapped by TFMOT too, but not counted.
    """
    return sum(type(layer).__name__.startswith("ClusterWeights")  # TFMOT does not export its wrapper class
               and bool(getattr(layer, "original_clusterable_weights", None)) for layer in model.layers)


__all__ = ["CENTROID_INITS", "centroid_init", "cluster_model", "strip_clustering", "count_clustered_layers",
           "copy_model"]
