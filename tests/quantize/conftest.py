"""Shared fixtures: seeds, sklearn digits, a tiny CNN trained once, and its clustered version."""


import pytest

from tfcompress._keras import tf


@pytest.fixture(scope="session")
def trainer(digits):
    from tfcompress.train import Trainer

    return Trainer(digits, batch_size=32, learning_rate=3e-3)


@pytest.fixture(scope="session")
def trained_cnn(trainer):
    """A ~1.8k-parameter CNN (conv-BN-ReLU x2, dense head) trained 8 epochs on digits (~0.8 val accuracy)."""
    from tfcompress.models import build_cnn

    tf.random.set_seed(1)
    model = build_cnn((8, 8, 1), 10, filters=(8, 16), dense_units=16)
    trainer.fit(model, 8, validation=False)
    return model


@pytest.fixture(scope="session")
def cluster_stage_result(trained_cnn, trainer):
    """The cluster stage (8 clusters, classifier left alone) applied once to ``trained_cnn``: (stage, model)."""
    from tfcompress.quantize import WeightClustering

    stage = WeightClustering(number_of_clusters=8, epochs=1, skip_last=True)
    return stage, stage.apply(trained_cnn, trainer)
