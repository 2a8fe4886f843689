"""Weight clustering through TFMOT: the stage, centroid initialisations, skipped layers, errors."""

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.models import build_mlp
from tfcompress.quantize import (CENTROID_INITS, WeightClustering, cluster_model, count_clustered_layers,
                                 strip_clustering, unique_weight_counts)


def test_cluster_stage_limits_unique_values_and_skips_classifier(cluster_stage_result, trained_cnn, trainer):
    stage, model = cluster_stage_result
    assert not any(type(layer).__name__.startswith("ClusterWeights") for layer in model.layers)  # stripped
    counts = unique_weight_counts(model)
    assert set(counts) == {"conv0/kernel", "conv1/kernel", "dense/kernel", "logits/kernel"}
    for key in ("conv0/kernel", "conv1/kernel", "dense/kernel"):
        assert counts[key] <= 8, counts
    assert counts["logits/kernel"] > 8  # skip_last left the classifier alone
    report = stage.report
    assert report["skipped_layers"] == ["logits"] and report["clustered_layers"] == 3
    assert report["unique_values"] == counts
    assert report["val_accuracy"] >= trainer.evaluate(trained_cnn) - 0.25, report
    assert unique_weight_counts(trained_cnn)["conv1/kernel"] > 8  # the input model was not clustered in place


@pytest.mark.parametrize("init", sorted(CENTROID_INITS))
def test_every_centroid_initialisation_gives_at_most_n_values(init):
    model = build_mlp((8,), 3, units=(32,))
    clustered = cluster_model(model, number_of_clusters=4, init=init)
    assert count_clustered_layers(clustered) == 2
    for key, count in unique_weight_counts(strip_clustering(clustered)).items():
        assert count <= 4, (key, count)


def test_skip_first_and_explicit_skip_layers():
    model = build_mlp((8,), 3, units=(16, 16))
    stage = WeightClustering(number_of_clusters=4, skip_first=True, skip_layers=["logits"])
    assert stage.layers_to_skip(model) == ["dense0", "logits"]
    clustered = cluster_model(model, 4, skip_layers=stage.layers_to_skip(model))
    counts = unique_weight_counts(strip_clustering(clustered))
    assert counts["dense1/kernel"] <= 4 and counts["dense0/kernel"] > 4 and counts["logits/kernel"] > 4


class _Scale(keras.layers.Layer):
    """A custom layer with a weight, unknown to TFMOT's clustering registry."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(int(input_shape[-1]),), initializer="ones")

    def call(self, x):
        return x * self.scale


def test_unclusterable_layer_is_named():
    x = keras.Input((8,))
    h = keras.layers.Dense(8, name="d")(x)
    h = _Scale(name="scale")(h)
    model = keras.Model(x, keras.layers.Dense(2, name="out")(h))
    with pytest.raises(ModelError, match=r"scale \(_Scale\).*skip_layers=\['scale'\]"):
        cluster_model(model, 4)
    counts = unique_weight_counts(strip_clustering(cluster_model(model, 4, skip_layers=["scale"])))
    assert counts["d/kernel"] <= 4


@pytest.mark.parametrize("kwargs", [{"number_of_clusters": 1}, {"number_of_clusters": 4.0}, {"init": "kmeans"},
                                    {"skip_layers": ["nope"]},
                                    {"number_of_clusters": 2, "preserve_sparsity": True}])
def test_cluster_model_rejects_bad_arguments(kwargs):
    args = {"number_of_clusters": 4, **kwargs}
    with pytest.raises(ConfigError):
        cluster_model(build_mlp((8,), 3, units=(8,)), **args)


def test_unique_counts_on_known_kernel():
    model = build_mlp((2,), 2, units=(2,))
    model.get_layer("dense0").kernel.assign(np.array([[1.0, 1.0], [0.0, 2.0]], "float32"))
    assert unique_weight_counts(model)["dense0/kernel"] == 3
