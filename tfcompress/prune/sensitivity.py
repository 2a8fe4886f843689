"""How much accuracy each group costs when pruned alone, and per-group ratios that meet a size budget.

``sensitivity_scan`` prunes one group at a time at a few keep ratios and measures validation accuracy after
recalibrating BatchNorm (as the stage does after its rebuild). It does not rebuild a model per trial: pruning
a group computes exactly what zeroing its dropped channels computes (``zero_channels``), so one working copy is
zeroed, recalibrated, evaluated and restored. ``allocate`` then picks a keep ratio per group that meets a
parameter budget and prunes the least sensitive groups the most.
"""

import time

import numpy as np

from tfcompress.errors import BudgetError, ConfigError
from tfcompress.prune import batchnorm
from tfcompress.prune.channel import batches, check_ratio, kept_count, top
from tfcompress.prune.graph import ChannelGraph
from tfcompress.prune.importance import get_importance
from tfcompress.prune.plan import PruningPlan
from tfcompress.prune.rebuild import rebuild, zeroed_weights

#: Keep ratios a scan tries for every group.
RATIOS = (0.25, 0.5, 0.75)
#: Calibration batches per trial.
CALIBRATION_BATCHES = 4


class SensitivityTable:
    """Validation accuracy of the model with one group pruned at each ratio.

    Attributes:
        base_accuracy: accuracy of the unpruned model (after the same BN recalibration as the trials).
        accuracy: dict group name -> {ratio: accuracy}.
        params: dict group name -> {ratio: parameters of the model with only that group pruned}.
        params_full: parameters of the unpruned model.
        seconds: how long the scan took.
    """

    def __init__(self, base_accuracy, accuracy, params, params_full, seconds=0.0):
        self.base_accuracy = float(base_accuracy)
        self.accuracy = accuracy
        self.params = params
        self.params_full = int(params_full)
        self.seconds = float(seconds)

    @property
    def ratios(self):
        return sorted({r for row in self.accuracy.values() for r in row}, reverse=True)

    def drop(self, group, ratio):
        """Accuracy lost when ``group`` alone keeps ``ratio`` of its channels (0 at ratio 1)."""
        return 0.0 if ratio >= 1.0 else self.base_accuracy - self.accuracy[group][ratio]

    def to_dict(self):
        """JSON-able form, for reports: drops per group and ratio."""
        return {"base_accuracy": self.base_accuracy, "seconds": round(self.seconds, 2),
                "params_full": self.params_full,
                "drop": {g: {str(r): round(self.drop(g, r), 6) for r in row} for g, row in self.accuracy.items()},
                "params": {g: {str(r): p for r, p in row.items()} for g, row in self.params.items()}}


def sensitivity_scan(model, x_val, y_val, ratios=RATIOS, criterion="l1", x_calibration=None,
                     calibration_batches=CALIBRATION_BATCHES, batch_size=batchnorm.BATCH_SIZE, groups=None, exclude=(),
                     min_channels=1, divisor=1, data=None, graph=None):
    """Prune each group alone at each ratio and measure validation accuracy.

    Args:
        model: a built functional or Sequential ``tf_keras`` model (left unchanged).
        x_val, y_val: validation arrays (labels as class indices or one-hot).
        ratios: keep ratios to try, each in (0, 1). Defaults to RATIOS (0.25, 0.5, 0.75).
        criterion: importance that picks the kept channels (see ``plan_channels``). Defaults to "l1".
        x_calibration: training inputs for BatchNorm recalibration before each measurement; None to measure
            with the moving statistics as they are. Defaults to None.
        calibration_batches: calibration batches per trial. Defaults to 4.
        batch_size: calibration batch size. Defaults to 64.
        groups: names of the groups to scan (None: every prunable group). Defaults to None.
        exclude, min_channels, divisor, data: as for ``plan_channels``.
        graph: the model's ``ChannelGraph`` if already built. Defaults to None.

    Returns:
        A ``SensitivityTable``.

    Raises:
        ModelError: a layer the graph cannot follow. ConfigError: a bad ratio or group name.
    """
    from tfcompress.train import accuracy

    start = time.perf_counter()
    graph = graph if graph is not None else ChannelGraph(model, exclude)
    ratios = sorted({float(r) for r in _checked_ratios(ratios)}, reverse=True)
    targets = graph.prunable()
    if groups is not None:
        unknown = [g for g in groups if g not in graph.groups or graph.groups[g].fixed]
        if unknown:
            raise ConfigError(f"groups {unknown!r} are not prunable groups of model {graph.model.name!r}; "
                              f"prunable: {', '.join(g.name for g in targets)}.")
        targets = [g for g in targets if g.name in set(groups)]
    importance = get_importance(criterion)
    scores = importance.scores(graph, targets, batches(data) if importance.needs_data else None)
    work = rebuild(graph, PruningPlan.full(graph))
    calibrate = batchnorm.BatchNormCalibrator(work) if x_calibration is not None else None
    calib = batchnorm.calibration_batches(x_calibration, calibration_batches, batch_size) if calibrate else None

    def measure():
        if calibrate is not None:
            calibrate(calib)
        return accuracy(work, x_val, y_val)

    base = measure()
    full = {name: np.arange(g.size) for name, g in graph.groups.items()}
    table, params = {}, {}
    for group in targets:
        table[group.name], params[group.name] = {}, {}
        for ratio in ratios:
            count = kept_count(group.size, ratio, min_channels, divisor)
            params[group.name][ratio] = graph.param_count({group.name: count})
            if count == group.size:
                table[group.name][ratio] = base
                continue
            changed = zeroed_weights(graph, dict(full, **{group.name: top(scores[group.name], count)}))
            for name, values in changed.items():
                work.get_layer(name).set_weights(values)
            table[group.name][ratio] = measure()
            for name in changed:
                work.get_layer(name).set_weights(graph.model.get_layer(name).get_weights())
    return SensitivityTable(base, table, params, graph.param_count(), time.perf_counter() - start)


def allocate(table, graph, max_params, min_channels=1, divisor=1):
    """Per-group keep ratios (from the scanned ones) that bring the model to at most ``max_params``.

    Greedy, by marginal cost: starting from the unpruned model, repeatedly move the one group whose next lower
    ratio costs the least accuracy per parameter saved, until the budget is met. The parameters of each
    candidate are counted exactly for the *joint* plan (``ChannelGraph.param_count``), because savings are not
    additive: two adjacent groups share the kernel between them, which shrinks with the product of their
    ratios. A knapsack over the single-group savings would assume additivity and overshoot or undershoot;
    the greedy walk stays exact in size and needs only ``groups x ratios`` steps. Each group's accuracy
    cost is its scanned drop made monotone (a lower ratio never costs less than a higher one), and steps that
    cost nothing are taken largest saving first.

    Args:
        table: a ``SensitivityTable`` of the model.
        graph: the model's ``ChannelGraph``.
        max_params: the parameter budget.
        min_channels, divisor: as for ``plan_channels``.

    Returns:
        dict group name -> keep ratio, for the groups that are pruned (``layer_ratios`` for ``prune_channels``).

    Raises:
        BudgetError: even the lowest scanned ratio of every group leaves more than ``max_params``.
    """
    levels = [1.0] + table.ratios
    names = list(table.accuracy)
    cost = {}
    for name in names:
        running, cost[name] = 0.0, []
        for ratio in levels:
            running = max(running, table.drop(name, ratio))
            cost[name].append(running)
    state = {name: 0 for name in names}

    def counts(current):
        return {n: kept_count(graph.groups[n].size, levels[i], min_channels, divisor) for n, i in current.items()}

    current = graph.param_count(counts(state))
    while current > max_params:
        best = None
        for name in names:
            i = state[name]
            if i + 1 == len(levels):
                continue
            params = graph.param_count(counts(dict(state, **{name: i + 1})))
            saved = current - params
            if saved <= 0:
                continue
            key = (cost[name][i + 1] - cost[name][i] + 1e-9) / saved
            if best is None or key < best[0]:
                best = (key, name, params)
        if best is None:
            smallest = graph.param_count(counts({n: len(levels) - 1 for n in names}))
            raise BudgetError(f"a parameter budget of {max_params:,} cannot be met by channel pruning: keeping "
                              f"{levels[-1]:g} of every scanned group still leaves {smallest:,} parameters. Fix: "
                              "raise the budget, scan lower ratios, or compress further with another stage.")
        state[best[1]] += 1
        current = best[2]
    return {name: levels[i] for name, i in state.items() if i > 0}


def _checked_ratios(ratios):
    if isinstance(ratios, (int, float)):
        ratios = [ratios]
    ratios = list(ratios)
    if not ratios:
        raise ConfigError("ratios must list at least one keep ratio in (0, 1); received [].")
    for r in ratios:
        check_ratio(r, "ratios")
        if r == 1:
            raise ConfigError("ratios must be below 1 (ratio 1 is the unpruned model); received 1.")
    return ratios


__all__ = ["RATIOS", "SensitivityTable", "sensitivity_scan", "allocate"]
