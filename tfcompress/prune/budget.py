"""Channel pruning to a size budget: parameters, a share of them, or bytes of the int8 ``.tflite``.

A budget is a dict with one or more of ``max_params`` (an integer), ``max_params_share`` (a share of the
original parameters, in (0, 1]) and ``max_bytes`` (bytes of the int8 file). Parameters stand in for bytes
while searching (an int8 file holds one byte per weight plus per-channel scales, int32 biases and a header,
so bytes per parameter barely move when channels go); ``prune_to_budget`` then converts the result with
``tfcompress.export.convert(..., "int8")`` and, when the file is over, tightens the parameter target by the
measured excess and allocates again.
"""

from tfcompress.errors import BudgetError
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
    from tfcompress.errors import ConfigError

    check_budget("prune (channel)", budget)
    full = table.params_full
    target = min([budget.get("max_params", full), int(budget.get("max_params_share", 1.0) * full)])
    info = {}
    max_bytes = budget.get("max_bytes")
    if max_bytes is not None:
        if representative_data is None:
            raise ConfigError("a max_bytes budget needs representative_data (training inputs) to convert the "
                              "pruned model to int8 and measure it.")
        original = _int8_bytes(model, representative_data)
        info["int8_bytes_original"] = original
        target = min(target, int(max_bytes * full / original))
    for _ in range(BYTE_ROUNDS):
        ratios = allocate(table, graph, target, options.get("min_channels", 1), options.get("divisor", 1))
        pruned = prune_channels(model, 1.0, layer_ratios=ratios, **options)
        info.update(layer_ratios=ratios, target_params=int(target), params=int(pruned.count_params()))
        if max_bytes is None:
            return pruned, info
        size = _int8_bytes(pruned, representative_data)
        info["int8_bytes"] = size
        if size <= max_bytes:
            return pruned, info
        target = int(target * max_bytes / size * 0.98)
    raise BudgetError(f"channel pruning could not bring the int8 file under max_bytes={max_bytes:,}: the last "
                      f"attempt measured {info['int8_bytes']:,} bytes at {info['params']:,} parameters. Fix: "
                      "raise max_bytes or scan lower keep ratios.")


def _int8_bytes(model, representative_data):
    from tfcompress.export import convert

    return len(convert(model, "int8", representative_data=representative_data))


__all__ = ["BUDGET_KEYS", "check_budget", "prune_to_budget"]
