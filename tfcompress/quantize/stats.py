"""Measure what compression did to the weights: sparsity and the number of distinct values.

Works on plain models and on models wrapped by TFMOT (``QuantizeWrapper``, pruning and
clustering wrappers): the kernel variables are found by name in each layer's weights.
"""

import numpy as np

_KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel")


def kernels(model):
    """Mapping ``"layer/weight" -> ndarray`` of every kernel variable in ``model``.

    Args:
        model: a ``tf_keras`` model, possibly with TFMOT wrappers.

    Returns:
        dict from ``"<layer name>/<kernel name>"`` to the kernel as a NumPy array.
    """
    found = {}
    for layer in model.layers:
        for weight in layer.weights:
            short = weight.name.split("/")[-1].split(":")[0]
            if short in _KERNEL_NAMES:
                found[f"{layer.name}/{short}"] = np.asarray(weight.numpy())
    return found


def kernel_sparsity(model):
    """Fraction of exact zeros in each kernel of ``model`` (``"layer/weight" -> float``)."""
    return {key: float(np.mean(value == 0)) for key, value in kernels(model).items()}


def overall_sparsity(model):
    """Fraction of exact zeros over all kernel weights of ``model`` together."""
    values = list(kernels(model).values())
    total = sum(v.size for v in values)
    return float(sum(int(np.sum(v == 0)) for v in values) / total) if total else 0.0


def unique_weight_counts(model):
    """Number of distinct values in each kernel of ``model`` (``"layer/weight" -> int``)."""
    return {key: int(np.unique(value).size) for key, value in kernels(model).items()}


def max_unique_per_channel(model):
    """Largest number of distinct values in one output channel (last axis) of each kernel.

    TFMOT's cluster-preserving QAT keeps the clusters of a Conv2D kernel per output channel, so this
    is the measure that CQAT preserves for convolutions (for Dense kernels it clusters the whole kernel).
    """
    return {key: int(max(np.unique(value[..., c]).size for c in range(value.shape[-1])))
            for key, value in kernels(model).items()}


__all__ = ["kernels", "kernel_sparsity", "overall_sparsity", "unique_weight_counts", "max_unique_per_channel"]
