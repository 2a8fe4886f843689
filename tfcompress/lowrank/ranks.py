"""Choosing the rank of every candidate layer.

Three rules, exactly one at a time:

* ``energy``: per layer, the smallest rank that keeps this share of the spectrum.
* ``target``: a parameter budget for the whole model (an int count, or a float
  in (0, 1) meaning that share of the current count).  Every layer keeps the
  same share of energy, the highest one whose model meets the budget; this is
  exact (every kept-energy level that changes some rank is tried).
* ``rank``: an int for every layer, or a dict ``layer name -> rank``.

A layer whose replacement would not have fewer weights than the original is
left alone (unless ``only_if_smaller=False``), and the decision says why.
"""

import numpy as np

from tfcompress.errors import BudgetError, ConfigError

DEFAULT_ENERGY = 0.9


def check_rule(energy=None, rank=None, target=None):
    """Validate the rank rule; return ``(kind, value)`` with kind "energy", "rank" or "target"."""
    given = {k: v for k, v in (("energy", energy), ("rank", rank), ("target", target)) if v is not None}
    if len(given) > 1:
        raise ConfigError(f"give one of energy, rank or target; received {sorted(given)}. "
                          "Example: energy=0.9, or target=0.5 (half the parameters), or rank={'dense': 8}.")
    if not given:
        return "energy", DEFAULT_ENERGY
    kind, value = next(iter(given.items()))
    if kind == "energy" and not (isinstance(value, (int, float)) and 0.0 < value <= 1.0):
        raise ConfigError(f"energy must be a number in (0, 1]; received {value!r}.")
    if kind == "target" and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
                                 and (isinstance(value, int) or value < 1.0)):
        raise ConfigError(f"target must be a parameter count (int >= 1) or a share of the current count "
                          f"(float in (0, 1)); received {value!r}.")
    if kind == "rank":
        values = value.values() if isinstance(value, dict) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"rank must be a positive int or a dict layer name -> positive int; "
                                  f"received {value!r}.")
    return kind, value


def select_ranks(candidates, total_params, energy=None, rank=None, target=None, only_if_smaller=True):
    """Decide, for every candidate, its rank or why it is left alone.

    Args:
        candidates: list of ``Candidate``.
        total_params: current parameter count of the whole model (for ``target``).
        energy, rank, target: the rule (see the module docstring); none given means energy 0.9.
        only_if_smaller: leave alone layers whose factors would not be smaller. Defaults to True.

    Returns:
        dict ``name -> (rank or None, note)``.

    Raises:
        ConfigError: for a bad rule or a rank dict naming unknown layers.
        BudgetError: if ``target`` cannot be met even at rank 1 everywhere.
    """
    kind, value = check_rule(energy, rank, target)
    if kind == "rank" and isinstance(value, dict):
        unknown = sorted(set(value) - {c.name for c in candidates})
        if unknown:
            raise ConfigError(f"rank names layers that cannot be factorized or do not exist: {unknown}; "
                              f"factorizable layers: {sorted(c.name for c in candidates)}.")
    if kind == "target":
        budget = int(value) if isinstance(value, int) else int(np.floor(value * total_params))
        level = _energy_for_budget(candidates, total_params, budget, only_if_smaller)
        return {c.name: _decide(c, c.rank_for_energy(level), only_if_smaller, f"shared kept energy {level:.4f}")
                for c in candidates}
    decisions = {}
    for c in candidates:
        if kind == "energy":
            decisions[c.name] = _decide(c, c.rank_for_energy(value), only_if_smaller, None)
        elif isinstance(value, dict) and c.name not in value:
            decisions[c.name] = (None, "not listed in rank")
        else:
            wanted = value[c.name] if isinstance(value, dict) else value
            note = f"rank {wanted} clipped to {c.max_rank}" if wanted > c.max_rank else None
            decisions[c.name] = _decide(c, min(int(wanted), c.max_rank), only_if_smaller, note)
    return decisions


def _decide(candidate, r, only_if_smaller, note):
    if only_if_smaller and not candidate.saves(r):
        return None, (f"no saving: rank {r} needs {candidate.params_after(r)} weights, the layer has "
                      f"{candidate.params_before}")
    return r, note


def _cost(candidate, level, only_if_smaller):
    r = candidate.rank_for_energy(level)
    after = candidate.params_after(r)
    return min(after, candidate.params_before) if only_if_smaller else after


def _energy_for_budget(candidates, total_params, budget, only_if_smaller):
    fixed = total_params - sum(c.params_before for c in candidates)
    levels = sorted({float(k) for c in candidates for k in c.kept if k > 0.0} | {1.0}, reverse=True)
    for level in levels:
        total = fixed + sum(_cost(c, level, only_if_smaller) for c in candidates)
        if total <= budget:
            return level
    smallest = fixed + sum(min(c.params_after(1), c.params_before) if only_if_smaller else c.params_after(1)
                           for c in candidates)
    raise BudgetError(f"target of {budget} parameters cannot be met by factorization: the smallest reachable "
                      f"count (rank 1 in every factorizable layer) is {smallest} of {total_params}. Raise the "
                      "target, or prune or shrink the layers that cannot be factorized.")


__all__ = ["select_ranks", "check_rule", "DEFAULT_ENERGY"]
