"""Data-aware (PCA) factorization."""

import numpy as np
import pytest

from tfcompress import build_cnn
from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.lowrank import factorize_pca, factorize_svd


@pytest.fixture(autouse=True)
def seed():
    keras.utils.set_random_seed(0)


def _correlated(n=600, dim=20, latent=4, noise=0.01, seed=0):
    """Inputs near a ``latent``-dimensional subspace (fixed mixing); ``seed`` draws the samples."""
    mixing = np.random.default_rng(100).normal(size=(latent, dim))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, latent)) @ mixing + noise * rng.normal(size=(n, dim))
    return (x + 2.0).astype("float32")


def _linear(dim=20, units=30):
    inp = keras.Input((dim,))
    return keras.Model(inp, keras.layers.Dense(units, name="d")(inp))


def _rel(model, new, x):
    ref = model(x).numpy()
    return np.linalg.norm(new(x).numpy() - ref) / np.linalg.norm(ref - ref.mean(0))


@pytest.mark.parametrize("source", ["outputs", "inputs"])
def test_full_rank_matches_original(source):
    model = build_cnn((8, 8, 1), 5, filters=(6, 8), dense_units=12)
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype("float32")
    new, report = factorize_pca(model, x, energy=1.0, source=source, only_if_smaller=False, batch_size=16)
    assert np.abs(new(x).numpy() - model(x).numpy()).max() < 1e-4
    expected = {"conv0", "conv1", "dense", "logits"} if source == "outputs" else {"dense", "logits"}
    assert set(report["factorized"]) == expected
    if source == "inputs":
        assert "Dense layers only" in report["skipped"]["conv0"]
    assert report["samples"]["dense"] == 64 and report["samples"].get("conv0", 64 * 64) == 64 * 64


@pytest.mark.parametrize("source", ["outputs", "inputs"])
def test_pca_beats_svd_on_correlated_inputs(source):
    model, x = _linear(), _correlated()
    pca_model, report = factorize_pca(model, x, rank=4, source=source)
    svd_model, _ = factorize_svd(model, rank=4)
    assert pca_model.count_params() <= 4 * 50 + 30
    assert _rel(model, pca_model, x) < 0.05 < _rel(model, svd_model, x)
    held_out = _correlated(seed=1)  # new samples from the same distribution
    assert _rel(model, pca_model, held_out) < 0.05


def test_output_error_equals_discarded_variance():
    model, x = _linear(), _correlated(noise=0.3)
    for rank in (2, 4, 8):
        new, report = factorize_pca(model, x, rank=rank, source="outputs")
        discarded = report["layers"][0]["discarded_energy"]
        assert discarded > 0
        assert _rel(model, new, x) == pytest.approx(np.sqrt(discarded), rel=0.02, abs=1e-4)


def test_energy_rule_and_batches_from_an_iterable():
    model, x = _linear(), _correlated(noise=0.05)
    batches = ((x[i:i + 50], None) for i in range(0, 600, 50))
    new, report = factorize_pca(model, batches, energy=0.99, num_batches=4)
    assert report["samples"]["d"] == 200
    row = report["layers"][0]
    assert row["status"] == "factorized" and 4 <= row["rank"] <= 6 and row["kept_energy"] >= 0.99 - 1e-6


def test_pca_errors():
    model = _linear()
    with pytest.raises(ConfigError, match="source"):
        factorize_pca(model, _correlated(), source="weights")
    with pytest.raises(ConfigError, match="conv_mode"):
        factorize_pca(model, _correlated(), conv_mode="spatial")
    with pytest.raises(ModelError, match="no input batches"):
        factorize_pca(model, iter([]), rank=2)
