"""tfcompress: turn a trained Keras model into a small, verified int8 TFLite file.

Importing tfcompress selects Keras 2 (``tf_keras``), which TFMOT needs; build
every model you hand to tfcompress with ``tfcompress.keras``.  Subpackages are
imported on first use, so ``import tfcompress`` stays quick and does not pull
in KerasTuner or TFMOT until they are needed.
"""

import importlib

from tfcompress._keras import keras, tf  # noqa: F401  (must come first: selects tf_keras)
from tfcompress import errors
from tfcompress.data import load_digits_data, load_npz, make_shapes_data, make_tabular_data
from tfcompress.models import build_cnn, build_mlp, build_mobilenet, build_resnet, build_student

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily by __getattr__)
_LAZY = {
    # distillation
    "Distiller": "tfcompress.distill",
    "FeatureDistiller": "tfcompress.distill",
    "DataFreeDistiller": "tfcompress.distill",
    "build_generator": "tfcompress.distill",
    "KLDivergence": "tfcompress.distill",
    "StandardizedKL": "tfcompress.distill",
    "DecoupledKD": "tfcompress.distill",
    "CosineDecay": "tfcompress.distill",
    "LogitsDistillation": "tfcompress.distill",
    "FeatureDistillation": "tfcompress.distill",
    "Distill": "tfcompress.distill",
    "DataFreeDistill": "tfcompress.distill",
    "FeatureDistill": "tfcompress.distill",
    "Trainer": "tfcompress.train",
    # pruning
    "MagnitudePruning": "tfcompress.prune",
    "MbyNPruning": "tfcompress.prune",
    "GradientPruning": "tfcompress.prune",
    "ChannelPruning": "tfcompress.prune",
    "prune_magnitude": "tfcompress.prune",
    "prune_m_by_n": "tfcompress.prune",
    "prune_gradient": "tfcompress.prune",
    "prune_channels": "tfcompress.prune",
    "plan_channels": "tfcompress.prune",
    "zero_channels": "tfcompress.prune",
    "ChannelGraph": "tfcompress.prune",
    "PruningPlan": "tfcompress.prune",
    "recalibrate_batch_norm": "tfcompress.prune",
    "sensitivity_scan": "tfcompress.prune",
    "allocate": "tfcompress.prune",
    "sparsity_summary": "tfcompress.prune",
    # quantization and clustering
    "QuantizeAwareTraining": "tfcompress.quantize",
    "PrunePreservingQAT": "tfcompress.quantize",
    "ClusterPreservingQAT": "tfcompress.quantize",
    "PostTrainingQuantization": "tfcompress.quantize",
    "WeightClustering": "tfcompress.quantize",
    "quantize_aware_model": "tfcompress.quantize",
    "cluster_model": "tfcompress.quantize",
    "flatten_model": "tfcompress.quantize",
    # low-rank factorization
    "SVDFactorize": "tfcompress.lowrank",
    "PCAFactorize": "tfcompress.lowrank",
    "factorize_svd": "tfcompress.lowrank",
    "factorize_pca": "tfcompress.lowrank",
    # student search
    "Budget": "tfcompress.search",
    "SearchStage": "tfcompress.search",
    "search_student": "tfcompress.search",
    "pareto_front": "tfcompress.search",
    # export
    "export_tflite": "tfcompress.export",
    "verify_tflite": "tfcompress.export",
    "evaluate_tflite": "tfcompress.export",
    "predict_tflite": "tfcompress.export",
    "measure_latency": "tfcompress.export",
    "inspect_tflite": "tfcompress.export",
    "write_c_array": "tfcompress.export",
    "ExportStage": "tfcompress.pipeline",
    # Keras 3 interop
    "to_tf_keras": "tfcompress.interop",
    "to_keras3": "tfcompress.interop",
    "load_teacher": "tfcompress.interop",
    "load_model": "tfcompress.interop",
    "ensure_tf_keras": "tfcompress.interop",
    # pipeline
    "Pipeline": "tfcompress.pipeline",
    "run_recipe": "tfcompress.pipeline",
    # data as users keep it
    "open_data": "tfcompress.datasets",
    "DataSource": "tfcompress.datasets",
    "write_image_folder": "tfcompress.synthetic",
}

__all__ = [
    "__version__",
    "keras",
    "errors",
    "load_digits_data",
    "load_npz",
    "make_tabular_data",
    "make_shapes_data",
    "build_cnn",
    "build_mlp",
    "build_mobilenet",
    "build_resnet",
    "build_student",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfcompress' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
