"""Low-rank factorization of Dense and Conv kernels (truncated SVD, data-aware PCA)."""

from tfcompress.lowrank.factorize import factorize_svd
from tfcompress.lowrank.linalg import rank_for_energy, truncated_svd

__all__ = ["factorize_svd", "rank_for_energy", "truncated_svd"]
