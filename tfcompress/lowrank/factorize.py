"""Factorize a model's Dense and Conv kernels by truncated SVD.

``factorize_svd(model, energy=0.9)`` returns a new functional model in which
each chosen layer is two thinner layers (``W ≈ A B``), and a JSON-able report
of what was done to every layer.  The shared engine ``apply_ranks`` is also
used by the PCA variant.
"""

from tfcompress.errors import ConfigError
from tfcompress.lowrank import graph
from tfcompress.lowrank.candidates import layer_mode, make_layers, svd_candidate
from tfcompress.lowrank.linalg import CONV_MODES
from tfcompress.lowrank.ranks import check_rule, select_ranks


def factorize_svd(model, energy=None, rank=None, target=None, conv_mode="channel", layers=None,
                  only_if_smaller=True):
    """Replace Dense and Conv layers by two thinner layers from a truncated SVD of their kernels.

    Dense ``(m, n)`` becomes Dense(r, linear, no bias) → Dense(n, bias, original activation). A conv
    becomes, with ``conv_mode="channel"``, a k×k conv with r filters → a 1×1 conv, or, with
    ``conv_mode="spatial"`` (Conv2D only), a kh×1 conv with r filters → a 1×kw conv.

    Args:
        model: a functional (or built Sequential) tf_keras model.
        energy: keep this share of every layer's squared singular values, in (0, 1].
        rank: an int rank for every layer, or a dict ``layer name -> rank``.
        target: a parameter budget for the whole model: int count, or float share in (0, 1).
            Give at most one of energy, rank and target; none means ``energy=0.9``.
        conv_mode: "channel", "spatial" or "none" (leave convs alone). Defaults to "channel".
        layers: names of the layers to consider; None for every supported layer. Defaults to None.
        only_if_smaller: leave layers alone when factors would not be smaller. Defaults to True.

    Returns:
        ``(new_model, report)``; the original model is not changed.

    Raises:
        ConfigError: bad options. ModelError: the model has no functional graph.
        BudgetError: ``target`` cannot be met.
    """
    check_conv_mode(conv_mode, CONV_MODES + ("none",))
    check_rule(energy, rank, target)
    chosen, skipped = choose_layers(model, layers, conv_mode)
    candidates = [svd_candidate(layer, mode) for layer, mode in chosen]
    return apply_ranks(model, candidates, skipped, dict(energy=energy, rank=rank, target=target),
                       only_if_smaller, method="svd")


def check_conv_mode(conv_mode, allowed):
    if conv_mode not in allowed:
        raise ConfigError(f"conv_mode must be one of {list(allowed)}; received {conv_mode!r}.")


def choose_layers(model, layers, conv_mode):
    """``([(layer, mode), ...], {name: reason})`` for the model's top-level layers that have a kernel."""
    graph.check_functional(model)
    names = [layer.name for layer in model.layers]
    if layers is not None:
        if isinstance(layers, str) or not all(isinstance(n, str) for n in layers):
            raise ConfigError(f"layers must be a list of layer names; received {layers!r}.")
        unknown = sorted(set(layers) - set(names))
        if unknown:
            raise ConfigError(f"layers names {unknown}, which are not in model {model.name!r}; its layers: {names}.")
    chosen, skipped = [], {}
    for layer in model.layers:
        has_kernel = any("kernel" in w.name for w in layer.weights)
        if (layers is None and not has_kernel) or (layers is not None and layer.name not in layers):
            continue
        mode, reason = layer_mode(layer, conv_mode)
        if mode is None:
            skipped[layer.name] = reason
        else:
            chosen.append((layer, mode))
    return chosen, skipped


def apply_ranks(model, candidates, skipped, rule, only_if_smaller, method):
    """Choose ranks, rebuild the model, and describe the result.

    Returns:
        ``(new_model, report)``.
    """
    total = int(model.count_params())
    decisions = select_ranks(candidates, total, only_if_smaller=only_if_smaller, **rule)
    taken = {layer.name for layer in model.layers}
    replacements, built, rows = {}, [], []
    for c in candidates:
        r, note = decisions[c.name]
        row = {"name": c.name, "type": type(c.layer).__name__, "mode": c.mode, "matrix": [c.m, c.n],
               "max_rank": c.max_rank, "params_before": c.params_before}
        if r is None:
            row.update(status="skipped", reason=note, params_after=c.params_before)
            rows.append(row)
            continue
        first_name = _unique(f"{c.name}_{method}", taken)
        first, second, w1, w2 = make_layers(c, r, first_name)
        replacements[c.name] = _chain(first, second)
        built.append((first, w1))
        built.append((second, w2))
        row.update(status="factorized", rank=r, kept_energy=round(float(c.kept[r - 1]), 6),
                   discarded_energy=round(float(1.0 - c.kept[r - 1]), 6), params_after=c.params_after(r),
                   layers=[first.name, second.name])
        if note:
            row["note"] = note
        rows.append(row)
    new_model = graph.rebuild(model, replacements)
    for layer, weights in built:
        layer.set_weights(weights)
    for name, reason in skipped.items():
        rows.append({"name": name, "status": "skipped", "reason": reason})
    after = int(new_model.count_params())
    report = {
        "method": method,
        "rule": {k: v for k, v in rule.items() if v is not None} or {"energy": 0.9},
        "only_if_smaller": bool(only_if_smaller),
        "params_before": total,
        "params_after": after,
        "compression": round(total / after, 4) if after else None,
        "factorized": [r["name"] for r in rows if r["status"] == "factorized"],
        "skipped": {r["name"]: r["reason"] for r in rows if r["status"] == "skipped"},
        "layers": rows,
    }
    return new_model, report


def _chain(first, second):
    def call(args, kwargs):
        return second(first(*args, **kwargs))

    return call


def _unique(name, taken):
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


__all__ = ["factorize_svd", "apply_ranks", "choose_layers", "check_conv_mode"]
