"""Channel pruning to a size budget: parameters, a share of them, or bytes of the int8 ``.tflite``.

A budget is a dict with one or more of ``max_params`` (an integer), ``max_params_share`` (a share of the
original parameters, in (0, 1]) and ``max_bytes`` (bytes of the int8 file). Parameters stand in for bytes
while searching (an int8 file holds one byte per weight plus per-channel scales, int32 biases and a header,
so the file is a fixed overhead plus about a byte per weight); ``prune_to_budget`` then converts the result
with ``tfcompress.export.convert(..., "int8")`` and, when the file is over, moves the parameter target by a
secant step on the measured (parameters, bytes) points and allocates again.
"""

from tfcompress.errors import BudgetError, ConfigError
from tfcompress.prune.channel import prune_channels
from tfcompress.prune.sensitivity import allocate
from tfcompress.stage import check_number, refuse_option

BUDGET_KEYS = ("max_bytes", "max_params", "max_params_share")
#: Conversions tried by ``prune_to_budget`` before it gives up on ``max_bytes``.
BYTE_ROUNDS = 4


def check_budget(stage, budget, option="budget"):
    """For stage constructors: ConfigError unless ``budget`` is None or a dict of known, valid limits."""
    if budget is None:
        return budget
    what = f"a mapping with one or more of {', '.join(BUDGET_KEYS)} (or null)"
    if not isinstance(budget, dict) or not budget or any(k not in BUDGET_KEYS for k in budget):
        refuse_option(stage, option, what, budget)
    for key, value in budget.items():
        if key == "max_params_share":
            check_number(stage, f"{option}[{key!r}]", value, 0, 1, low_open=True)
        else:
            check_number(stage, f"{option}[{key!r}]", value, 1, integer=True)
    return budget


def prune_to_budget(model, budget, table, graph, representative_data=None, **options):
    """Prune ``model`` so that it meets ``budget``, using a sensitivity table to spread the pruning.

    Args:
        model: the model to prune (left unchanged).
        budget: dict of limits (see the module docstring), checked with ``check_budget``.
        table: the model's ``SensitivityTable``.
        graph: the model's ``ChannelGraph``.
        representative_data: inputs that calibrate the int8 conversion; required with ``max_bytes``.
            Defaults to None.
        **options: ``criterion``, ``exclude``, ``min_channels``, ``divisor``, ``data`` for ``prune_channels``.

    Returns:
        ``(pruned model, info)``; ``info`` holds ``layer_ratios`` (group -> ratio), ``target_params``,
        ``params`` and, with ``max_bytes``, ``int8_bytes`` (measured) and ``int8_bytes_original``.

    Raises:
        BudgetError: the budget cannot be met (or ``max_bytes`` not within ``BYTE_ROUNDS`` conversions).
        ConfigError: a bad budget, or ``max_bytes`` without representative data.
    """
    check_budget("prune (channel)", budget)
    full = table.params_full
    target = min([budget.get("max_params", full), int(budget.get("max_params_share", 1.0) * full)])
    info = {}
    max_bytes = budget.get("max_bytes")
    if max_bytes is None:
        ratios = _allocate(table, graph, target, options)
        pruned = prune_channels(model, 1.0, layer_ratios=ratios, **options)
        info.update(layer_ratios=ratios, target_params=int(target), params=int(pruned.count_params()))
        return pruned, info
    if representative_data is None:
        raise ConfigError("a max_bytes budget needs representative_data (training inputs) to convert the pruned "
                          "model to int8 and measure it.")
    original = _int8_bytes(model, representative_data)
    info["int8_bytes_original"] = original
    points = [(full, original)]  # (params, int8 bytes): a file is a fixed overhead plus about a byte per weight
    guess = int(max_bytes * full / original)  # no overhead assumed: the first try prunes too little, if anything
    for _ in range(BYTE_ROUNDS):
        goal = min(target, guess)
        ratios = _allocate(table, graph, goal, options, max_bytes)
        pruned = prune_channels(model, 1.0, layer_ratios=ratios, **options)
        params, size = int(pruned.count_params()), _int8_bytes(pruned, representative_data)
        info.update(layer_ratios=ratios, target_params=int(goal), params=params, int8_bytes=size)
        if size <= max_bytes:
            return pruned, info
        points.append((params, size))
        (p0, b0), (p1, b1) = points[-2:]
        slope = (b1 - b0) / (p1 - p0) if p1 != p0 else original / full
        guess = min(int(p1 - (b1 - max_bytes) / max(slope, 1e-9)), p1 - 1)  # secant step on bytes(params)
    raise BudgetError(f"channel pruning could not bring the int8 file under max_bytes={max_bytes:,} in "
                      f"{BYTE_ROUNDS} conversions: the last measured {info['int8_bytes']:,} bytes at "
                      f"{info['params']:,} parameters. Fix: raise max_bytes or scan lower keep ratios.")


def _allocate(table, graph, goal, options, max_bytes=None):
    try:
        return allocate(table, graph, goal, options.get("min_channels", 1), options.get("divisor", 1))
    except BudgetError as exc:
        if max_bytes is None:
            raise
        raise BudgetError(f"max_bytes={max_bytes:,} cannot be met: it needs at most {goal:,} parameters, and {exc}") \
            from None


def _int8_bytes(model, representative_data):
    from tfcompress.export import convert

    return len(convert(model, "int8", representative_data=representative_data))


__all__ = ["BUDGET_KEYS", "check_budget", "prune_to_budget"]
