"""Low-rank factorization of Dense and Conv kernels: truncated SVD, and data-aware PCA.

``factorize_svd`` / ``factorize_pca`` return ``(new_model, report)``; the stages
``SVDFactorize`` (recipe key ``factorize``, default method ``svd``) and
``PCAFactorize`` (method ``pca``) wrap them with optional fine-tuning.
"""

from tfcompress.lowrank.factorize import factorize_svd
from tfcompress.lowrank.linalg import rank_for_energy, truncated_svd
from tfcompress.lowrank.pca import factorize_pca
from tfcompress.lowrank.stages import PCAFactorize, SVDFactorize

__all__ = ["factorize_svd", "factorize_pca", "SVDFactorize", "PCAFactorize", "rank_for_energy", "truncated_svd"]
