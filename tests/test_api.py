"""The public API: a pinned list of names, each importable from the top level."""

import subprocess
import sys

import tfcompress

EXPECTED = {
    "__version__", "keras", "errors", "load_digits_data", "load_npz", "make_tabular_data", "make_shapes_data", "build_cnn", "build_mlp",
    "build_mobilenet", "build_resnet", "build_student",
    "Distiller", "FeatureDistiller", "DataFreeDistiller", "build_generator", "KLDivergence", "StandardizedKL", "DecoupledKD", "CosineDecay", "LogitsDistillation", "FeatureDistillation", "Distill", "DataFreeDistill",
    "FeatureDistill", "Trainer",
    "MagnitudePruning", "MbyNPruning", "GradientPruning", "ChannelPruning", "prune_magnitude", "prune_m_by_n",
    "prune_gradient", "prune_channels", "sparsity_summary", "plan_channels", "zero_channels", "ChannelGraph",
    "PruningPlan", "recalibrate_batch_norm", "sensitivity_scan", "allocate",
    "QuantizeAwareTraining", "PrunePreservingQAT", "ClusterPreservingQAT", "PostTrainingQuantization",
    "WeightClustering", "quantize_aware_model", "cluster_model", "flatten_model",
    "SVDFactorize", "PCAFactorize", "factorize_svd", "factorize_pca",
    "Budget", "SearchStage", "search_student", "pareto_front",
    "export_tflite", "verify_tflite", "evaluate_tflite", "predict_tflite", "measure_latency", "inspect_tflite",
    "write_c_array", "ExportStage",
    "to_tf_keras", "to_keras3", "load_teacher", "load_model", "ensure_tf_keras",
    "Pipeline", "run_recipe", "open_data", "DataSource", "write_image_folder",
}


def test_exported_names_are_pinned_and_resolve():
    assert set(tfcompress.__all__) == EXPECTED
    for name in tfcompress.__all__:
        assert getattr(tfcompress, name) is not None, name


def test_keras_is_tf_keras_and_tf_keras_is_selected():
    assert tfcompress.keras.__name__.startswith("tf_keras")
    assert tfcompress.tf.keras.Model is tfcompress.keras.Model


def test_import_after_keras3_tensorflow_fails_with_instructions():
    code = "import tensorflow as tf; tf.keras.Model; import tfcompress"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode != 0
    assert "KerasFlavourError" in proc.stderr and "import tfcompress before tensorflow" in proc.stderr


def test_import_is_lazy_about_heavy_subpackages():
    code = "import sys, tfcompress; print('keras_tuner' in sys.modules, 'tensorflow_model_optimization' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["False", "False"]
