"""Per-layer sparsity and size summary of a model (plain, TFMOT-wrapped or nested).

Example:
    >>> rows = sparsity_summary(model)  # doctest: +SKIP
    >>> print(format_summary(rows))  # doctest: +SKIP
"""

import numpy as np

from tfcompress._keras import keras
from tfcompress.prune.select import kernel_variables

_PRUNING_VARS = ("mask", "threshold", "pruning_step")


def sparsity_summary(model):
    """One row per layer that holds weights: parameters, zeros and sizes.

    TFMOT pruning wrappers are looked through (their mask, threshold and step variables are not
    counted, and the row carries the wrapped layer's name); layers of nested models are listed
    with ``outer/inner`` names.

    Args:
        model: a ``tf_keras`` model.

    Returns:
        A list of dicts with keys ``layer``, ``type``, ``params`` (all weights), ``nonzero``,
        ``sparsity`` (zeros / params), ``kernel_params``, ``kernel_nonzero``, ``kernel_sparsity``
        (the prunable kernels only), ``bytes_float32`` (dense float32 size) and ``bytes_sparse_int8``
        (a lower bound for int8 storage of the nonzero values only).
    """
    rows = []
    for prefix, layer in _walk(model, ""):
        wrapped = type(layer).__name__ == "PruneLowMagnitude"
        inner = layer.layer if wrapped else layer
        weights = [w for w in layer.weights if not (wrapped and _is_pruning_var(w))]
        if not weights:
            continue
        arrays = [np.asarray(w.numpy()) for w in weights]
        kernels = [np.asarray(k.numpy()) for k in kernel_variables(layer)]
        params = int(sum(a.size for a in arrays))
        nonzero = int(sum(np.count_nonzero(a) for a in arrays))
        k_params = int(sum(k.size for k in kernels))
        k_nonzero = int(sum(np.count_nonzero(k) for k in kernels))
        rows.append({
            "layer": prefix + inner.name,
            "type": type(inner).__name__,
            "params": params,
            "nonzero": nonzero,
            "sparsity": 1.0 - nonzero / params if params else 0.0,
            "kernel_params": k_params,
            "kernel_nonzero": k_nonzero,
            "kernel_sparsity": 1.0 - k_nonzero / k_params if k_params else 0.0,
            "bytes_float32": 4 * params,
            "bytes_sparse_int8": nonzero,
        })
    return rows


def total_sparsity(rows, layers=None, kernels=True):
    """Share of zeros over the kernels (or all weights) of ``rows``, optionally only the named ``layers``."""
    chosen = [r for r in rows if layers is None or r["layer"] in layers]
    key_p, key_n = ("kernel_params", "kernel_nonzero") if kernels else ("params", "nonzero")
    total = sum(r[key_p] for r in chosen)
    return 1.0 - sum(r[key_n] for r in chosen) / total if total else 0.0


def format_summary(rows):
    """A fixed-width text table of ``sparsity_summary`` rows with a total line."""
    head = f"{'layer':<24} {'type':<22} {'params':>9} {'nonzero':>9} {'sparsity':>8} {'kernel sp.':>10} {'KiB f32':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['layer'][:24]:<24} {r['type'][:22]:<22} {r['params']:>9} {r['nonzero']:>9} "
                     f"{r['sparsity']:>8.1%} {r['kernel_sparsity']:>10.1%} {r['bytes_float32'] / 1024:>8.1f}")
    params = sum(r["params"] for r in rows)
    nonzero = sum(r["nonzero"] for r in rows)
    lines.append("-" * len(head))
    lines.append(f"{'total':<24} {'':<22} {params:>9} {nonzero:>9} {total_sparsity(rows, kernels=False):>8.1%} "
                 f"{total_sparsity(rows):>10.1%} {4 * params / 1024:>8.1f}")
    return "\n".join(lines)


def stage_report(method, pruned, trainer, info):
    """The JSON-able report of a pruning stage: ``info``, sparsities reached and validation accuracy."""
    rows = sparsity_summary(pruned)
    return {"method": method, **info,
            "pruned_kernel_sparsity": total_sparsity(rows, layers=list(info.get("targets", {}))),
            "model_kernel_sparsity": total_sparsity(rows),
            "params": sum(r["params"] for r in rows),
            "nonzero_params": sum(r["nonzero"] for r in rows),
            "layers": {r["layer"]: round(r["kernel_sparsity"], 4) for r in rows if r["kernel_params"]},
            "val_accuracy": trainer.evaluate(pruned)}


def _walk(model, prefix):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer, f"{prefix}{layer.name}/")
        else:
            yield prefix, layer


def _is_pruning_var(var):
    name = var.name.split("/")[-1].split(":")[0]
    return name in _PRUNING_VARS
