"""Quantization-aware training (plain, prune-preserving, cluster-preserving) and weight clustering.

Everything here drives TFMOT; the stages register themselves as ``quantize`` (methods
``qat``, ``pqat``, ``cqat``, ``ptq``) and ``cluster`` for recipes.
"""

from tfcompress.quantize.cluster import (CENTROID_INITS, cluster_model, count_clustered_layers,
                                         strip_clustering)
from tfcompress.quantize.flatten import flatten_model, has_nested_models
from tfcompress.quantize.fuse import fuse_relu
from tfcompress.quantize.qat import (count_quantized_layers, quantize_aware_model, quantize_scheme,
                                     strip_cluster_preserve, strip_training_wrappers, unquantizable_layers)
from tfcompress.quantize.stages import (ClusterPreservingQAT, PostTrainingQuantization, PrunePreservingQAT,
                                        QuantizeAwareTraining, WeightClustering)
from tfcompress.quantize.stats import (kernel_sparsity, kernels, max_unique_per_channel, overall_sparsity,
                                       unique_weight_counts)

__all__ = [
    "CENTROID_INITS",
    "ClusterPreservingQAT",
    "PostTrainingQuantization",
    "PrunePreservingQAT",
    "QuantizeAwareTraining",
    "WeightClustering",
    "cluster_model",
    "count_clustered_layers",
    "count_quantized_layers",
    "flatten_model",
    "fuse_relu",
    "has_nested_models",
    "kernel_sparsity",
    "kernels",
    "max_unique_per_channel",
    "overall_sparsity",
    "quantize_aware_model",
    "quantize_scheme",
    "strip_cluster_preserve",
    "strip_clustering",
    "strip_training_wrappers",
    "unique_weight_counts",
    "unquantizable_layers",
]
