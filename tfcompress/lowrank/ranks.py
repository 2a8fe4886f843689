"""Choosing the rank of every candidate layer.

Three rules, exactly one at a time:

* ``energy``: per layer, the smallest rank that keeps this share of the spectrum.
* ``target``: a parameter budget for the whole model (an int count, or a float
  in (0, 1) meaning that share of the current count).  Starting from full
  rank, ranks are lowered greedily, each step dropping the components that
  lose the least share of a layer's energy per weight saved, until the budget
  is met.  (Measured on a digits CNN at half its size: 97.8% accuracy before
  fine-tuning, against 51% when every layer kept the same share of energy.)
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
        chosen = _greedy_for_budget(candidates, total_params, budget, only_if_smaller)
        return {c.name: (None, "kept whole: the target is met without factorizing it")
                if chosen[c.name] == c.max_rank and only_if_smaller and not c.saves(c.max_rank)
                else _decide(c, chosen[c.name], only_if_smaller, "rank chosen for the target")
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


def _greedy_for_budget(candidates, total_params, budget, only_if_smaller):
    """Ranks that meet ``budget`` losing little energy: a greedy walk down each layer's convex hull.

    Every layer starts at full rank.  Each step lowers the rank of the layer whose best move loses the least
    share of its energy per weight saved, averaged over the move (so a large layer that only starts to save
    below its break-even rank is judged by what the whole move buys).  Once the budget is met, components
    are given back, best energy per weight first, while the budget still holds.
    """
    fixed = total_params - sum(c.params_before for c in candidates)

    costs, losses = {}, {}
    for c in candidates:  # index r - 1 holds rank r
        after = np.array([c.params_after(r) for r in range(1, c.max_rank + 1)], dtype=np.float64)
        costs[c.name] = np.minimum(after, c.params_before) if only_if_smaller else after
        losses[c.name] = 1.0 - c.kept

    def cost(c, r):
        return int(costs[c.name][r - 1])

    def lost(c, r):
        return float(losses[c.name][r - 1])

    ranks = {c.name: c.max_rank for c in candidates}
    total = fixed + sum(cost(c, ranks[c.name]) for c in candidates)
    while total > budget:
        best = None
        for c in candidates:
            r = ranks[c.name]
            saved = cost(c, r) - costs[c.name][:r - 1]
            if not np.any(saved > 0):
                continue
            scores = np.where(saved > 0, (losses[c.name][:r - 1] - lost(c, r)) / np.maximum(saved, 1e-9), np.inf)
            lower = int(np.argmin(scores[::-1]))  # ties: prefer the highest rank (smallest move)
            lower = r - 1 - lower
            if best is None or scores[lower - 1] < best[0]:
                best = (float(scores[lower - 1]), c, lower)
        if best is None:
            raise BudgetError(f"target of {budget} parameters cannot be met by factorization: the smallest "
                              f"reachable count (rank 1 in every factorizable layer) is {total} of "
                              f"{total_params}. Raise the target, or prune or shrink the layers that cannot be "
                              "factorized.")
        _, c, lower = best
        total -= cost(c, ranks[c.name]) - cost(c, lower)
        ranks[c.name] = lower
    while True:  # give back what still fits
        best = None
        for c in candidates:
            r = ranks[c.name]
            if r < c.max_rank:
                extra = cost(c, r + 1) - cost(c, r)
                if total + extra <= budget:
                    score = (lost(c, r) - lost(c, r + 1)) / max(extra, 1e-9)
                    if best is None or score > best[0]:
                        best = (score, c, extra)
        if best is None:
            return ranks
        _, c, extra = best
        total += extra
        ranks[c.name] += 1


__all__ = ["select_ranks", "check_rule", "DEFAULT_ENERGY"]
