"""Which layers can be factorized, their energy spectra, and the two layers that replace each one.

A ``Candidate`` describes one Dense or Conv layer seen as a matrix ``(m, n)``:
its spectrum (squared singular values for SVD, output or input variances for
PCA), what a rank-``r`` replacement costs, and how to compute the factors.
``make_layers`` turns factors into two new tf_keras layers: the first is linear
and has no bias, the second carries the bias and the original activation.
"""

import numpy as np

from tfcompress._keras import keras
from tfcompress.lowrank import linalg
from tfcompress.errors import ConfigError

_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def layer_mode(layer, conv_mode):
    """The factorization mode for a layer, or ``(None, reason)`` when it is not supported.

    Returns:
        ``(mode, reason)``: ``mode`` is "dense", "channel" or "spatial" (reason None), or None with a reason.
    """
    if type(layer) is keras.layers.Dense:
        return "dense", None
    if type(layer) in _CONVS:
        if getattr(layer, "groups", 1) != 1:
            return None, "grouped convolutions are not supported"
        if conv_mode == "none":
            return None, "conv layers excluded (conv_mode='none')"
        if conv_mode == "spatial" and type(layer) is not keras.layers.Conv2D:
            return None, "spatial factorization needs a Conv2D; use conv_mode='channel'"
        if conv_mode == "spatial" and min(layer.kernel_size) < 2:
            return None, "1-pixel-wide kernel has no spatial extent to factorize"
        return conv_mode, None
    if isinstance(layer, keras.Model):
        return None, "nested model: its layers are not factorized (flatten the model first)"
    return None, f"{type(layer).__name__} is not supported (Dense, Conv1D, Conv2D and Conv3D are)"


class Candidate:
    """One layer that may be replaced by two thinner ones.

    Args:
        layer: the original layer.
        mode: "dense", "channel" or "spatial".
        energies: spectrum, largest first; its length is the largest useful rank.
        factor_fn: ``fn(rank) -> (A, B, bias)`` matrix factors and the second layer's bias (or None).
        second_bias: whether the second layer has a bias.
    """

    def __init__(self, layer, mode, energies, factor_fn, second_bias):
        self.layer = layer
        self.name = layer.name
        self.mode = mode
        kernel = layer.kernel.numpy()
        self.kernel_shape = kernel.shape
        self.m, self.n = linalg.kernel_matrix(kernel, mode).shape
        self.energies = np.asarray(energies, dtype=np.float64)
        self.kept = linalg.kept_energy_curve(self.energies)
        self.factor_fn = factor_fn
        self.second_bias = second_bias
        self.outputs = kernel.shape[-1]
        self.params_before = int(sum(np.prod(w.shape) for w in layer.get_weights()))

    @property
    def max_rank(self):
        return len(self.energies)

    def params_after(self, rank):
        """Weights of the two replacement layers at ``rank``."""
        return int(rank * (self.m + self.n) + (self.outputs if self.second_bias else 0))

    def saves(self, rank):
        return self.params_after(rank) < self.params_before

    def rank_for_energy(self, energy):
        return linalg.rank_for_energy(self.energies, energy)


def svd_candidate(layer, mode):
    """A candidate factorized by truncated SVD of its kernel matrix."""
    matrix = linalg.kernel_matrix(layer.kernel.numpy(), mode)
    bias = layer.bias.numpy() if getattr(layer, "use_bias", False) else None

    u, s, vt = np.linalg.svd(matrix, full_matrices=False)  # once: it is the slow part on large kernels

    def factor_fn(rank):
        a, b = linalg.split_svd(u, s, vt, rank)
        return a, b, bias

    return Candidate(layer, mode, s ** 2, factor_fn, bias is not None)


def pca_candidate(layer, mode, source, mean, variances, directions):
    """A candidate factorized by projecting its inputs or (pre-activation) outputs on principal directions."""
    matrix = linalg.kernel_matrix(layer.kernel.numpy(), mode)
    bias = layer.bias.numpy() if getattr(layer, "use_bias", False) else None
    project = linalg.pca_input_factors if source == "inputs" else linalg.pca_output_factors

    def factor_fn(rank):
        return project(matrix, bias, mean, directions, rank)

    return Candidate(layer, mode, variances, factor_fn, True)


def make_layers(candidate, rank, name_first):
    """The two layers that replace ``candidate.layer`` at ``rank``, and their weights.

    The second layer keeps the original layer's name, so references by name (feature hints, the logits
    layer) still find it.

    Returns:
        ``(first, second, first_weights, second_weights)``.
    """
    layer, mode = candidate.layer, candidate.mode
    a, b, bias = candidate.factor_fn(rank)
    k1, k2 = linalg.factor_kernels(a, b, candidate.kernel_shape, mode)
    config = layer.get_config()
    config.pop("kernel_constraint", None)  # a constraint on the product does not carry to the factors
    first_cfg = dict(config, name=name_first, activation="linear", use_bias=False, activity_regularizer=None)
    second_cfg = dict(config, use_bias=bias is not None)
    if mode == "dense":
        first_cfg["units"] = rank
    else:
        d = len(layer.kernel_size)
        ones = (1,) * d
        first_cfg["filters"] = rank
        if mode == "channel":
            second_cfg.update(kernel_size=ones, strides=ones, padding="valid", dilation_rate=ones)
        elif mode == "spatial":
            (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
            first_cfg.update(kernel_size=(kh, 1), strides=(sh, 1), dilation_rate=(dh, 1))
            second_cfg.update(kernel_size=(1, kw), strides=(1, sw), dilation_rate=(1, dw))
        else:
            raise ConfigError(f"unknown factorization mode {mode!r}")
    cls = type(layer)
    dtype = layer.kernel.dtype.as_numpy_dtype
    first, second = cls.from_config(first_cfg), cls.from_config(second_cfg)
    second_weights = [k2.astype(dtype)] + ([np.asarray(bias, dtype=dtype)] if bias is not None else [])
    return first, second, [k1.astype(dtype)], second_weights


__all__ = ["Candidate", "svd_candidate", "pca_candidate", "make_layers", "layer_mode"]
