"""Pruning through a Trainer with a teacher: the student is fine-tuned nested inside a Distiller."""

import numpy as np
import pytest

from tfcompress.models import build_cnn
from tfcompress.prune import GradientPruning, MagnitudePruning, sparsity_summary
from tfcompress.train import Trainer


@pytest.fixture(scope="module")
def distilling_trainer(data):
    return Trainer(data, teacher=build_cnn((8, 8, 1), 4, filters=(8, 16), pooling="gap", name="teacher"),
                   batch_size=32)


def test_magnitude_pruning_reaches_target_inside_distiller(cnn, distilling_trainer):
    pruned = MagnitudePruning(sparsity=0.7, epochs=1).apply(cnn, distilling_trainer)
    sparsity = {r["layer"]: r["kernel_sparsity"] for r in sparsity_summary(pruned)}
    assert sparsity["conv1"] == pytest.approx(0.7, abs=0.01)
    assert sparsity["dense"] == pytest.approx(0.7, abs=0.01)
    assert sparsity["conv0"] == 0.0


def test_gradient_masks_hold_inside_distiller(cnn, distilling_trainer):
    stage = GradientPruning(sparsity=0.6, epochs=1, batches=2, scope="layer")
    pruned = stage.apply(cnn, distilling_trainer)
    assert np.mean(pruned.get_layer("conv1").kernel.numpy() == 0) == pytest.approx(0.6, abs=0.01)
