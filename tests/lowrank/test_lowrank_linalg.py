"""The NumPy side of low-rank factorization: SVD factors, energy ranks, kernel reshapes, PCA factors."""

import numpy as np
import pytest

from tfcompress.errors import ConfigError, ShapeError
from tfcompress.lowrank import linalg


@pytest.fixture(autouse=True)
def rng():
    return np.random.default_rng(0)


def test_full_rank_svd_reconstructs_exactly(rng):
    m = rng.normal(size=(12, 7))
    a, b = linalg.truncated_svd(m, 7)
    assert a.shape == (12, 7) and b.shape == (7, 7)
    np.testing.assert_allclose(a @ b, m, atol=1e-10)


@pytest.mark.parametrize("rank", [1, 3, 5])
def test_truncation_error_equals_discarded_energy(rng, rank):
    m = rng.normal(size=(10, 8))
    a, b = linalg.truncated_svd(m, rank)
    energies = linalg.singular_energies(m)
    discarded = energies[rank:].sum() / energies.sum()
    rel_sq = np.linalg.norm(m - a @ b) ** 2 / np.linalg.norm(m) ** 2
    assert rel_sq == pytest.approx(discarded, rel=1e-9)


def test_rank_for_energy_picks_smallest_sufficient_rank():
    e = [4.0, 3.0, 2.0, 1.0]  # cumulative shares 0.4, 0.7, 0.9, 1.0
    assert linalg.rank_for_energy(e, 0.4) == 1
    assert linalg.rank_for_energy(e, 0.41) == 2
    assert linalg.rank_for_energy(e, 0.7) == 2
    assert linalg.rank_for_energy(e, 0.95) == 4
    assert linalg.rank_for_energy(e, 1.0) == 4
    assert linalg.rank_for_energy([0.0, 0.0], 0.5) == 1


def test_kept_energy_curve_ends_at_exactly_one(rng):
    for _ in range(50):
        kept = linalg.kept_energy_curve(np.sort(rng.random(37))[::-1] * 1e3)
        assert kept[-1] == 1.0 and kept.max() <= 1.0 and np.all(np.diff(kept) >= 0)


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1])
def test_rank_for_energy_rejects_bad_energy(bad):
    with pytest.raises(ConfigError, match="energy"):
        linalg.rank_for_energy([1.0], bad)


def test_bad_rank_and_shape_are_rejected(rng):
    with pytest.raises(ConfigError, match="between 1 and 3"):
        linalg.truncated_svd(rng.normal(size=(3, 5)), 4)
    with pytest.raises(ShapeError):
        linalg.truncated_svd(rng.normal(size=(3, 5, 2)), 1)
    with pytest.raises(ShapeError, match="conv_mode='channel'"):
        linalg.kernel_matrix(rng.normal(size=(3, 4, 5)), "spatial")


@pytest.mark.parametrize("mode,shape", [("channel", (3, 3, 4, 6)), ("channel", (5, 4, 6)),
                                        ("spatial", (3, 5, 4, 6))])
def test_conv_factor_kernels_compose_back_to_the_kernel(rng, mode, shape):
    kernel = rng.normal(size=shape)
    matrix = linalg.kernel_matrix(kernel, mode)
    a, b = linalg.truncated_svd(matrix, min(matrix.shape))
    k1, k2 = linalg.factor_kernels(a, b, shape, mode)
    if mode == "channel":
        assert k1.shape == shape[:-1] + (a.shape[1],) and k2.shape == (1,) * (len(shape) - 2) + (a.shape[1], 6)
        composed = np.tensordot(k1, k2.reshape(k2.shape[-2:]), axes=([-1], [0]))
    else:
        assert k1.shape == (3, 1, 4, a.shape[1]) and k2.shape == (1, 5, a.shape[1], 6)
        # kernel[h, w, c, n] = sum_k first[h, 0, c, k] * second[0, w, k, n]
        composed = np.einsum("hck,wkn->hwcn", k1[:, 0], k2[0])
    np.testing.assert_allclose(composed, kernel, atol=1e-10)


@pytest.mark.parametrize("factors", [linalg.pca_input_factors, linalg.pca_output_factors])
def test_pca_factors_are_exact_at_full_rank_and_keep_the_mean(rng, factors):
    x = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 3.0
    w, bias = rng.normal(size=(6, 4)), rng.normal(size=4)
    samples = x if factors is linalg.pca_input_factors else x @ w + bias
    mean, variances, directions = linalg.pca(samples)
    assert np.all(np.diff(variances) <= 1e-12)
    full = directions.shape[1]
    a, b, new_bias = factors(w, bias, mean, directions, full)
    np.testing.assert_allclose(x @ a @ b + new_bias, x @ w + bias, atol=1e-8)
    a, b, new_bias = factors(w, bias, mean, directions, 1)
    # at any rank the mean response is reproduced exactly
    np.testing.assert_allclose((x @ a @ b + new_bias).mean(0), (x @ w + bias).mean(0), atol=1e-8)


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(linalg)
    assert result.attempted >= 1 and result.failed == 0
