"""Collaborative QAT: sparsity survives PQAT, clusters survive CQAT (and plain QAT loses sparsity)."""

import numpy as np
import pytest

from tfcompress.data import make_tabular_data
from tfcompress.models import build_mlp
from tfcompress.quantize import (ClusterPreservingQAT, PrunePreservingQAT, QuantizeAwareTraining, kernel_sparsity,
                                 max_unique_per_channel, unique_weight_counts)
from tfcompress.train import Trainer


@pytest.fixture(scope="module")
def pruned_mlp():
    """A small MLP trained 3 epochs on tabular data, then half of every kernel set to zero by magnitude."""
    data = make_tabular_data(n_samples=600, n_features=12, n_classes=3)
    trainer = Trainer(data, batch_size=32, learning_rate=3e-3)
    model = build_mlp((12,), 3, units=(32,))
    trainer.fit(model, 3, validation=False)
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            k = layer.kernel.numpy()
            k[np.abs(k) < np.median(np.abs(k))] = 0.0
            layer.kernel.assign(k)
    return model, trainer


def test_pqat_keeps_sparsity_where_plain_qat_loses_it(pruned_mlp):
    model, trainer = pruned_mlp
    before = kernel_sparsity(model)
    assert all(s >= 0.5 for s in before.values())

    stage = PrunePreservingQAT(epochs=1, ptq_fallback=False)
    pqat = stage.apply(model, trainer)
    after = kernel_sparsity(pqat)
    assert len(after) == len(before)
    for key, sparsity in after.items():
        assert sparsity >= before[key.replace("quant_", "", 1)] - 1e-9, (key, after, before)
    assert stage.report["sparsity_after"] >= stage.report["sparsity_before"] >= 0.5

    from tfcompress.export import convert, inspect_tflite

    assert inspect_tflite(convert(pqat, "int8"))["is_fully_integer"]  # the folded Dense+ReLU converts

    plain = QuantizeAwareTraining(epochs=1, ptq_fallback=False).apply(model, trainer)
    assert max(kernel_sparsity(plain).values()) < 0.1  # without the preserving scheme the zeros move


def test_cqat_keeps_clusters(cluster_stage_result, trainer):
    _, clustered = cluster_stage_result  # 8 clusters per kernel, classifier unclustered
    stage = ClusterPreservingQAT(epochs=1, ptq_fallback=False)
    cqat = stage.apply(clustered, trainer)
    assert not any("cluster" in w.name for layer in cqat.layers for w in layer.weights)  # CQAT variables stripped
    totals = unique_weight_counts(cqat)
    per_channel = max_unique_per_channel(cqat)
    assert totals["quant_dense/kernel"] <= 8, totals  # Dense: the whole kernel keeps its 8 values
    for key in ("quant_conv0/kernel", "quant_conv1/kernel"):  # Conv2D: TFMOT keeps clusters per output channel
        assert per_channel[key] <= 8, per_channel
    assert totals["quant_logits/kernel"] > 8
    assert stage.report["max_unique_per_channel_after"] == per_channel


def test_pruning_wrappers_left_in_place_are_stripped_before_qat():
    import tensorflow_model_optimization as tfmot

    from tfcompress.quantize import count_quantized_layers, quantize_aware_model

    pruned = tfmot.sparsity.keras.prune_low_magnitude(build_mlp((6,), 2, units=(8,)))
    qat = quantize_aware_model(pruned, preserve="sparsity")
    assert count_quantized_layers(qat) == 2
    assert not any("PruneLowMagnitude" in type(layer).__name__ for layer in qat.layers)
