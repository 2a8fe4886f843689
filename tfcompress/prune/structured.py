"""m-by-n (e.g. 2:4) structured sparsity through TFMOT, and a checker for the pattern.

In an m-by-n sparse kernel every group of ``n`` consecutive weights along the
input-channel axis (the last axis of the TFLite layout: Conv2D
``[C_out, H, W, C_in]``, Dense ``[C_out, C_in]``) holds at least ``m`` zeros,
which sparse kernels on recent accelerators turn into speed.  TFMOT sets the
mask once, at the first training step, and keeps it while fine-tuning.
"""

import numpy as np

from tfcompress.errors import ConfigError, ShapeError
from tfcompress.prune import select
from tfcompress.prune.magnitude import magnitude_targets, pruning_callbacks, strip, wrap_for_pruning

import tensorflow_model_optimization as tfmot  # noqa: E402  (after tfcompress._keras, via select)


def check_m_by_n_arg(m_by_n):
    """Validate and return ``m_by_n`` as a tuple ``(m, n)`` with ``0 < m < n``."""
    try:
        m, n = (int(v) for v in m_by_n)
        ok = 0 < m < n and tuple(m_by_n) == (m, n)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"m_by_n must be two integers (m zeros in every n weights) with 0 < m < n, e.g. (2, 4); "
                          f"received {m_by_n!r}.")
    return m, n


def input_channel_groups(kernel):
    """Rearrange a kernel so the last axis is the input-channel axis (TFLite layout), as a 2-D array.

    Args:
        kernel: a Dense kernel ``[C_in, C_out]`` or a Conv2D kernel ``[H, W, C_in, C_out]``.

    Returns:
        A ``[rows, C_in]`` array.

    Raises:
        ShapeError: the kernel is neither rank 2 nor rank 4.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim == 2:
        return kernel.T
    if kernel.ndim == 4:
        return np.transpose(kernel, (3, 0, 1, 2)).reshape(-1, kernel.shape[2])
    raise ShapeError(f"m-by-n sparsity is defined for rank-2 (Dense) and rank-4 (Conv2D) kernels; received "
                     f"shape {kernel.shape}.")


def is_m_by_n_sparse(kernel, m_by_n=(2, 4)):
    """True if every group of ``n`` consecutive input channels holds at most ``n - m`` nonzeros.

    A last, shorter group (when C_in is not a multiple of n) is held to the same bound.
    """
    m, n = check_m_by_n_arg(m_by_n)
    rows = input_channel_groups(kernel)
    pad = (-rows.shape[1]) % n
    padded = np.pad(rows, ((0, 0), (0, pad)))
    counts = np.count_nonzero(padded.reshape(rows.shape[0], -1, n), axis=-1)
    return bool(np.all(counts <= n - m))


def check_m_by_n(model, m_by_n=(2, 4), layers=None):
    """Which layers of ``model`` hold m-by-n sparse kernels.

    Args:
        model: a ``tf_keras`` model (plain or TFMOT-wrapped).
        m_by_n: the pattern, e.g. ``(2, 4)``. Defaults to (2, 4).
        layers: names of the layers to check; None for every Dense/Conv2D layer. Defaults to None.

    Returns:
        dict layer name -> bool (True when every group satisfies the pattern).
    """
    result = {}
    for layer in select.weight_layers(model):
        inner = select._unwrap(layer)
        if layers is not None and inner.name not in layers:
            continue
        kernels = [k.numpy() for k in select.kernel_variables(layer) if len(k.shape) in (2, 4)]
        if kernels:
            result[inner.name] = all(is_m_by_n_sparse(k, m_by_n) for k in kernels)
    return result


def prune_m_by_n(model, trainer, epochs, m_by_n=(2, 4), exclude=select.DEFAULT_EXCLUDE, learning_rate=None):
    """Apply m-by-n sparsity to the kernels of ``model`` through TFMOT and fine-tune; return (model, info).

    Only Dense and Conv2D kernels (rank 2 or 4) take the pattern; other weight layers stay dense.
    """
    m, n = check_m_by_n_arg(m_by_n)
    targets = magnitude_targets(model, m / n, None, exclude)
    targets = {name: value for name, value in targets.items()
               if all(len(k.shape) in (2, 4) for k in select.kernel_variables(model.get_layer(name)))}
    if not targets:
        raise ConfigError(f"no Dense or Conv2D layer of model {model.name!r} is left to prune with {m}:{n} "
                          "sparsity; lower `exclude`.")
    # With m_by_n TFMOT sets the mask once, at step 1, whatever the schedule says; the schedule only
    # has to be valid.
    schedules = {name: tfmot.sparsity.keras.ConstantSparsity(m / n, begin_step=0) for name in targets}
    wrapped = wrap_for_pruning(model, schedules, sparsity_m_by_n=(m, n))
    trainer.fit(wrapped, epochs, callbacks=pruning_callbacks(), learning_rate=learning_rate)
    pruned = strip(wrapped)
    return pruned, {"targets": targets, "m_by_n": [m, n], "pattern_holds": check_m_by_n(pruned, (m, n), targets)}
