"""Measuring a candidate the way the budget is stated: on its int8 file.

Conversion, arena and latency come from ``tfcompress.export`` (``convert``,
``tflm.measure_arena`` and ``measure_latency``); this module only gathers the
numbers a search needs and checks them against a ``Budget`` in the cheapest
order (parameters, bytes, arena, latency), so an over-budget candidate costs
at most one conversion.
"""

import numbers

import numpy as np

from tfcompress.errors import ConversionError

LATENCY_RUNS = 50


def int8_bytes(model, representative_data):
    """The int8 ``.tflite`` flatbuffer of ``model`` (exact bytes), via ``tfcompress.export.convert``."""
    from tfcompress import export

    out = export.convert(model, "int8", representative_data=representative_data)
    if not isinstance(out, (bytes, bytearray)):
        raise ConversionError(f"expected tfcompress.export.convert to return the .tflite bytes, received "
                              f"{type(out).__name__}.")
    return bytes(out)


def latency_us(tflite_bytes, runs=LATENCY_RUNS):
    """Median latency of one batch-1 inference in microseconds (``tfcompress.export.measure_latency``)."""
    from tfcompress import export

    out = export.measure_latency(tflite_bytes, runs=runs)
    if isinstance(out, numbers.Real):
        return float(out)
    return float(out["median_us"])


def arena_bytes(tflite_bytes):
    """The smallest TensorFlow Lite Micro arena that runs the file, measured (``tfcompress.export.tflm``)."""
    from tfcompress.export.tflm import measure_arena

    return int(measure_arena(tflite_bytes)["arena_bytes"])


def int8_bytes_as_trained(model, representative_data):
    """Convert ``model`` as it will be after training, then restore its initial weights.

    An untrained model's zero biases and unit BatchNorm vectors are identical constants, which the
    converter stores once; trained weights differ, so the file grows (by about 10% on a small CNN).
    Converting with every weight slightly perturbed (positive values stay positive) gives the
    trained size before any training.
    """
    initial = model.get_weights()
    rng = np.random.default_rng(0)
    model.set_weights([w * (1 + 0.1 * rng.random(w.shape)) + 0.01 * rng.random(w.shape) for w in initial])
    try:
        return int8_bytes(model, representative_data)
    finally:
        model.set_weights(initial)


def measure_candidate(model, representative_data, budget, latency=True):
    """Parameters, int8 bytes and latency of an (untrained) candidate, stopping at the first broken bound.

    Args:
        model: a ``tf_keras`` model.
        representative_data: a few inputs for int8 calibration (e.g. ``x_val[:64]``).
        budget: a ``Budget``.
        latency: measure latency even when the budget does not bound it. Defaults to True.

    Returns:
        ``(measured, violations)``: a dict with ``params`` and, as far as measured, ``int8_bytes``,
        ``arena_bytes`` (when the budget bounds it) and ``latency_us`` (median µs, batch 1, interpreter
        defaults); and the list of broken bounds (empty if the candidate fits).

    Raises:
        ConversionError: TensorFlow Lite Micro cannot run the candidate (when the budget bounds the arena).
    """
    measured = {"params": int(model.count_params())}
    violations = budget.violations(measured)
    if violations:
        return measured, violations
    tflite = int8_bytes_as_trained(model, np.asarray(representative_data, dtype="float32"))
    measured["int8_bytes"] = len(tflite)
    violations = budget.violations(measured)
    if violations:
        return measured, violations
    if budget.needs_arena:
        measured["arena_bytes"] = arena_bytes(tflite)
        violations = budget.violations(measured)
        if violations:
            return measured, violations
    if latency or budget.needs_latency:
        measured["latency_us"] = latency_us(tflite)
    return measured, budget.violations(measured)


__all__ = ["int8_bytes", "int8_bytes_as_trained", "arena_bytes", "latency_us", "measure_candidate"]
