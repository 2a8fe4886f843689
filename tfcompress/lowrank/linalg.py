"""The linear algebra of low-rank factorization, in NumPy (no Keras here).

A kernel is seen as a matrix ``M`` of shape ``(m, n)``; a rank-``r``
factorization writes ``M ≈ A @ B`` with ``A`` of shape ``(m, r)`` and ``B`` of
shape ``(r, n)``, which costs ``r * (m + n)`` weights instead of ``m * n``.

* Dense kernels are already ``(inputs, units)`` matrices.
* Conv kernels ``(*spatial, cin, cout)`` become ``(prod(spatial) * cin, cout)``
  in *channel* mode (a k×k conv with ``r`` filters, then a 1×1 conv) or, for
  2-D convs, ``(kh * cin, kw * cout)`` in *spatial* mode (a kh×1 conv with ``r``
  filters, then a 1×kw conv; Jaderberg et al. 2014, scheme 2).

By Eckart–Young the truncated SVD is the best rank-``r`` approximation, and
``||M - A B||_F^2 / ||M||_F^2`` is exactly the share of squared singular values
that was dropped (the *discarded energy*).
"""

import numpy as np

from tfcompress.errors import ConfigError, ShapeError

CONV_MODES = ("channel", "spatial")


def truncated_svd(matrix, rank):
    """Best rank-``rank`` factors ``(A, B)`` of a matrix, with the singular values split evenly.

    Args:
        matrix: 2-D array ``(m, n)``.
        rank: kept rank, ``1 <= rank <= min(m, n)``.

    Returns:
        ``(A, B)``: float64 arrays ``(m, rank)`` and ``(rank, n)`` with ``A @ B`` the truncated SVD.

    Raises:
        ShapeError: if ``matrix`` is not 2-D.
        ConfigError: if ``rank`` is out of range.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ShapeError(f"truncated_svd expects a 2-D matrix; received shape {matrix.shape}.")
    _check_rank(rank, min(matrix.shape))
    return split_svd(*np.linalg.svd(matrix, full_matrices=False), rank)


def split_svd(u, s, vt, rank):
    """``(A, B)`` of a rank-``rank`` truncation from a thin SVD ``(u, s, vt)``, singular values split evenly."""
    _check_rank(rank, len(s))
    root = np.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vt[:rank]


def singular_energies(matrix):
    """Squared singular values of a matrix, largest first (its *energy spectrum*)."""
    s = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)
    return s ** 2


def rank_for_energy(energies, energy):
    """Smallest rank whose leading ``energies`` keep at least the share ``energy`` of their sum.

    Args:
        energies: non-negative values, largest first (squared singular values or PCA variances).
        energy: share to keep, ``0 < energy <= 1``.

    Returns:
        int rank between 1 and ``len(energies)``.

    Raises:
        ConfigError: if ``energy`` is outside ``(0, 1]``.

    Example:
        >>> rank_for_energy([4.0, 3.0, 2.0, 1.0], 0.7)
        2
    """
    if not 0.0 < float(energy) <= 1.0:
        raise ConfigError(f"energy must be in (0, 1]; received {energy!r}. Example: energy=0.9 keeps 90%.")
    kept = kept_energy_curve(energies)
    if float(energy) >= 1.0:
        return len(kept)  # full rank: exact, even where the tail is numerically zero
    # kernels are float32: a share within 1e-6 of the request counts as reaching it
    return int(min(np.searchsorted(kept, float(energy) - 1e-6) + 1, len(kept)))


def kept_energy_curve(energies):
    """Share of the total energy kept at each rank 1..len(energies) (1.0 throughout if the total is 0)."""
    e = np.clip(np.asarray(energies, dtype=np.float64), 0.0, None)
    total = e.sum()
    if total <= 0.0:
        return np.ones(len(e))
    kept = np.minimum(np.cumsum(e) / total, 1.0)
    kept[-1] = 1.0  # rounding must not put the full share above (or below) 1
    return kept


def kernel_matrix(kernel, mode="dense"):
    """The matrix that a kernel is factorized as.

    Args:
        kernel: Dense kernel ``(inputs, units)`` or conv kernel ``(*spatial, cin, cout)``.
        mode: ``"dense"``, ``"channel"`` (any conv) or ``"spatial"`` (2-D conv only). Defaults to "dense".

    Returns:
        2-D float64 array.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if mode == "dense":
        if kernel.ndim != 2:
            raise ShapeError(f"a Dense kernel must be 2-D; received shape {kernel.shape}.")
        return kernel
    if mode == "channel":
        return kernel.reshape(-1, kernel.shape[-1])
    if mode == "spatial":
        if kernel.ndim != 4:
            raise ShapeError(f"spatial factorization needs a 2-D conv kernel (kh, kw, cin, cout); "
                             f"received shape {kernel.shape}. Use conv_mode='channel' for other convs.")
        kh, kw, cin, cout = kernel.shape
        return kernel.transpose(0, 2, 1, 3).reshape(kh * cin, kw * cout)
    raise ConfigError(f"mode must be 'dense' or one of {CONV_MODES}; received {mode!r}.")


def factor_kernels(a, b, kernel_shape, mode="dense"):
    """Turn matrix factors ``(A, B)`` back into the kernels of the two replacement layers.

    Args:
        a: ``(m, r)`` factor from ``kernel_matrix(kernel, mode)``.
        b: ``(r, n)`` factor.
        kernel_shape: shape of the original kernel.
        mode: as in ``kernel_matrix``. Defaults to "dense".

    Returns:
        ``(first_kernel, second_kernel)``: for ``"channel"`` a ``(*spatial, cin, r)`` kernel and a
        ``(1, ..., 1, r, cout)`` kernel; for ``"spatial"`` a ``(kh, 1, cin, r)`` and a ``(1, kw, r, cout)``
        kernel; for ``"dense"`` the factors themselves.
    """
    r = a.shape[1]
    if mode == "dense":
        return a, b
    if mode == "channel":
        spatial = tuple(kernel_shape[:-2])
        return a.reshape(spatial + (kernel_shape[-2], r)), b.reshape((1,) * len(spatial) + (r, kernel_shape[-1]))
    if mode == "spatial":
        kh, kw, cin, cout = kernel_shape
        first = a.reshape(kh, cin, r)[:, None, :, :]
        second = b.reshape(r, kw, cout).transpose(1, 0, 2)[None, :, :, :]
        return first, second
    raise ConfigError(f"mode must be 'dense' or one of {CONV_MODES}; received {mode!r}.")


def pca(samples):
    """Principal directions of the rows of ``samples``.

    Args:
        samples: ``(N, d)`` array, one observation per row.

    Returns:
        ``(mean, variances, directions)``: ``(d,)`` mean, ``(d,)`` variances largest first and
        ``(d, d)`` orthonormal directions as columns, in the same order.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ShapeError(f"pca expects a non-empty 2-D array (N, d); received shape {x.shape}.")
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / len(x)
    variances, directions = np.linalg.eigh(cov)
    order = np.argsort(variances)[::-1]
    return mean, np.clip(variances[order], 0.0, None), directions[:, order]


def pca_input_factors(matrix, bias, mean, directions, rank):
    """Factors of ``y = x W + b`` after projecting ``x`` on its leading principal directions.

    ``x ≈ mu + P P^T (x - mu)`` gives ``y ≈ (x P)(P^T W) + b + (mu - P P^T mu) W``.

    Returns:
        ``(A, B, new_bias)`` with ``A = P`` ``(m, r)``, ``B = P^T W`` ``(r, n)``.
    """
    p = directions[:, :rank]
    bias = np.zeros(matrix.shape[1]) if bias is None else np.asarray(bias, dtype=np.float64)
    new_bias = bias + (mean - p @ (p.T @ mean)) @ matrix
    return p, p.T @ matrix, new_bias


def pca_output_factors(matrix, bias, mean, directions, rank):
    """Factors of ``z = x W + b`` after projecting ``z`` on its leading principal directions.

    ``z ≈ mu + Q Q^T (z - mu)`` gives ``z ≈ (x W Q) Q^T + (b - mu) Q Q^T + mu`` (Zhang et al. 2015).

    Returns:
        ``(A, B, new_bias)`` with ``A = W Q`` ``(m, r)``, ``B = Q^T`` ``(r, n)``.
    """
    q = directions[:, :rank]
    bias = np.zeros(matrix.shape[1]) if bias is None else np.asarray(bias, dtype=np.float64)
    new_bias = ((bias - mean) @ q) @ q.T + mean
    return matrix @ q, q.T, new_bias


def _check_rank(rank, max_rank):
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= max_rank:
        raise ConfigError(f"rank must be an integer between 1 and {max_rank}; received {rank!r}.")


__all__ = ["truncated_svd", "split_svd", "singular_energies", "rank_for_energy", "kept_energy_curve", "kernel_matrix",
           "factor_kernels", "pca", "pca_input_factors", "pca_output_factors", "CONV_MODES"]
