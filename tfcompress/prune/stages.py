"""The pruning stages (recipe key ``prune``): ``magnitude`` (default), ``m_by_n``, ``gradient`` and ``channel``.

Each stage checks its options in its constructor and calls the plain functions of its technique's module
(``magnitude.py``, ``structured.py``, ``gradient.py``, ``channel.py`` with ``budget.py`` and ``sensitivity.py``).
"""

from tfcompress.prune import select
from tfcompress.prune.batchnorm import recalibrate_batch_norm
from tfcompress.prune.budget import check_budget, prune_to_budget
from tfcompress.prune.channel import SCOPES as CHANNEL_SCOPES
from tfcompress.prune.channel import DATA_BATCHES, channel_counts, exclude_layers, group_counts, prune_channels
from tfcompress.prune.gradient import CRITERIA, SCOPES, prune_gradient
from tfcompress.prune.graph import ChannelGraph
from tfcompress.prune.importance import importance_names
from tfcompress.prune.magnitude import prune_magnitude
from tfcompress.prune.schedule import SCHEDULES
from tfcompress.prune.sensitivity import sensitivity_scan
from tfcompress.prune.structured import prune_m_by_n
from tfcompress.prune.summary import sparsity_summary, stage_report
from tfcompress.stage import (Stage, check_choice, check_flag, check_layer_map, check_names, check_number, is_number,
                              refuse_option, register_stage)
from tfcompress.train import epochs_for_steps

UPDATES = "a whole number >= 1 (or null for about 10)"
M_BY_N = "a pair [m, n] of integers with 0 < m < n (m zeros in every n weights), e.g. [2, 4]"
_KEEP_RATIO = "a number in (0, 1] (the share of channels kept)"
#: ``epochs: auto``: about this many fine-tuning steps, within these epochs. On a keras.applications MobileNetV2
#: (alpha 0.35, digits at 32 px, 987 training images) at keep 0.5, 5 epochs at batch 64 (80 steps) recovered
#: 58% int8 validation accuracy from 14% after the rebuild; 30 epochs at batch 32 (930 steps) and a rate of
#: 3e-3 gave 95.8% (teacher 93.6%); a rate of 1e-2 was no better.
AUTO_STEPS = 1000
AUTO_EPOCHS = (3, 60)
#: Peak learning rate of the fine-tuning (the same experiment).
LEARNING_RATE = 3e-3
#: Training batches for BatchNorm recalibration, and validation samples for the sensitivity scan.
RECALIBRATION_BATCHES = 8
SCAN_SAMPLES = 512
REPRESENTATIVE_SAMPLES = 200


def _bn_inputs(train, batch_size):
    """What BatchNorm recalibration reads: the training inputs (sampled in a seeded order by
    ``recalibrate_batch_norm``), or for a streamed split its first shuffled batches."""
    if not train.streamed:
        return train.x
    shuffled = train.dataset(batch_size, shuffle=True, seed=0).take(RECALIBRATION_BATCHES)
    return [x for x, _ in shuffled.as_numpy_iterator()]


@register_stage
class MagnitudePruning(Stage):
    """Stage: TFMOT magnitude pruning with a schedule counted in epochs (recipe ``prune: {method: magnitude}``).

    Args:
        sparsity: target share of zero kernel weights per pruned layer, in [0, 1). Defaults to 0.5.
        epochs: fine-tuning epochs while pruning. Defaults to 2.
        schedule: ``"polynomial"`` (gradual) or ``"constant"``. Defaults to "polynomial".
        layer_sparsity: dict layer name -> sparsity overriding ``sparsity``. Defaults to None.
        exclude: layers left dense: names, ``"first_conv"``, ``"classifier"``. Defaults to both keywords.
        initial_sparsity: first sparsity of the polynomial schedule. Defaults to 0.0.
        end_fraction: share of the epochs by which the final sparsity is reached. Defaults to 0.6.
        updates: mask updates over the run (None for about 10). Defaults to None.
        learning_rate: fine-tuning learning rate (None for the trainer's). Defaults to None.
    """

    name = "prune"
    reduces_size = True
    method = "magnitude"
    default_method = True

    def __init__(self, sparsity=0.5, epochs=2, schedule="polynomial", layer_sparsity=None,
                 exclude=select.DEFAULT_EXCLUDE, initial_sparsity=0.0, end_fraction=0.6, updates=None,
                 learning_rate=None):
        check_number(self, "sparsity", sparsity, 0, 1, high_open=True, what=select.SPARSITY)
        check_number(self, "epochs", epochs, 1, integer=True)
        check_choice(self, "schedule", schedule, SCHEDULES)
        check_layer_map(self, "layer_sparsity", layer_sparsity, "a number in [0, 1)", low=0, high=1, high_open=True)
        select.check_exclude(self, exclude)
        check_number(self, "initial_sparsity", initial_sparsity, 0, 1, high_open=True)
        check_number(self, "end_fraction", end_fraction, 0, 1, low_open=True)
        check_number(self, "updates", updates, 1, none="about 10", what=UPDATES)
        if updates is not None and int(updates) != updates:  # make_schedule takes 4.0 as 4
            refuse_option(self, "updates", UPDATES, updates)
        check_number(self, "learning_rate", learning_rate, 0, low_open=True, none="the trainer's")
        self.sparsity = sparsity
        self.epochs = epochs
        self.schedule = schedule
        self.layer_sparsity = layer_sparsity
        self.exclude = exclude
        self.initial_sparsity = initial_sparsity
        self.end_fraction = end_fraction
        self.updates = updates
        self.learning_rate = learning_rate

    def apply(self, model, trainer):
        pruned, info = prune_magnitude(model, trainer, self.sparsity, self.epochs, schedule=self.schedule,
                                       layer_sparsity=self.layer_sparsity, exclude=self.exclude,
                                       initial_sparsity=self.initial_sparsity, end_fraction=self.end_fraction,
                                       updates=self.updates, learning_rate=self.learning_rate)
        self._report = stage_report(self.method, pruned, trainer, info)
        return pruned


@register_stage
class MbyNPruning(Stage):
    """Stage: m-by-n structured sparsity through TFMOT (recipe ``prune: {method: m_by_n}``).

    Args:
        m_by_n: m zeros in every n consecutive input-channel weights. Defaults to (2, 4).
        epochs: fine-tuning epochs with the mask held. Defaults to 2.
        exclude: layers left dense: names, ``"first_conv"``, ``"classifier"``. Defaults to both keywords.
        learning_rate: fine-tuning learning rate (None for the trainer's). Defaults to None.
    """

    name = "prune"
    reduces_size = True
    method = "m_by_n"

    def __init__(self, m_by_n=(2, 4), epochs=2, exclude=select.DEFAULT_EXCLUDE, learning_rate=None):
        if not (isinstance(m_by_n, (list, tuple)) and len(m_by_n) == 2
                and all(is_number(v) and float(v).is_integer() for v in m_by_n) and 0 < m_by_n[0] < m_by_n[1]):
            refuse_option(self, "m_by_n", M_BY_N, m_by_n)  # (2.0, 4.0) passes, as check_m_by_n_arg takes it
        check_number(self, "epochs", epochs, 1, integer=True)
        select.check_exclude(self, exclude)
        check_number(self, "learning_rate", learning_rate, 0, low_open=True, none="the trainer's")
        self.m_by_n = m_by_n
        self.epochs = epochs
        self.exclude = exclude
        self.learning_rate = learning_rate

    def apply(self, model, trainer):
        pruned, info = prune_m_by_n(model, trainer, self.epochs, self.m_by_n, self.exclude, self.learning_rate)
        self._report = stage_report(self.method, pruned, trainer, info)
        return pruned


@register_stage
class GradientPruning(Stage):
    """Stage: gradient-importance (Taylor / movement) pruning with masks held while fine-tuning.

    Recipe: ``prune: {method: gradient, sparsity: 0.7, criterion: taylor}``.

    Args:
        sparsity: share of kernel weights zeroed, in [0, 1). Defaults to 0.5.
        epochs: fine-tuning epochs after pruning. Defaults to 2.
        criterion: ``"taylor"`` (|w·∂L/∂w|) or ``"movement"`` (−w·∂L/∂w). Defaults to "taylor".
        scope: ``"global"`` (one ranking over all pruned layers) or ``"layer"``. Defaults to "global".
        batches: training batches over which importance is accumulated. Defaults to 8.
        layer_sparsity: dict layer name -> sparsity overriding ``sparsity``. Defaults to None.
        exclude: layers left dense: names, ``"first_conv"``, ``"classifier"``. Defaults to both keywords.
        learning_rate: fine-tuning learning rate (None for the trainer's). Defaults to None.
    """

    name = "prune"
    reduces_size = True
    method = "gradient"

    def __init__(self, sparsity=0.5, epochs=2, criterion="taylor", scope="global", batches=8, layer_sparsity=None,
                 exclude=select.DEFAULT_EXCLUDE, learning_rate=None):
        check_number(self, "sparsity", sparsity, 0, 1, high_open=True, what=select.SPARSITY)
        check_number(self, "epochs", epochs, 0, integer=True)
        check_choice(self, "criterion", criterion, CRITERIA)
        check_choice(self, "scope", scope, SCOPES)
        check_number(self, "batches", batches, 1, integer=True)
        check_layer_map(self, "layer_sparsity", layer_sparsity, "a number in [0, 1)", low=0, high=1, high_open=True)
        select.check_exclude(self, exclude)
        check_number(self, "learning_rate", learning_rate, 0, low_open=True, none="the trainer's")
        self.sparsity = sparsity
        self.epochs = epochs
        self.criterion = criterion
        self.scope = scope
        self.batches = batches
        self.layer_sparsity = layer_sparsity
        self.exclude = exclude
        self.learning_rate = learning_rate

    def apply(self, model, trainer):
        pruned, info = prune_gradient(model, trainer, self.sparsity, self.epochs, self.criterion, self.scope,
                                      self.batches, self.layer_sparsity, self.exclude, self.learning_rate)
        self._report = stage_report(self.method, pruned, trainer, info)
        return pruned


@register_stage
class ChannelPruning(Stage):
    """Stage: remove whole filters/units, across skip connections, and rebuild a smaller dense model.

    ``apply`` prunes (``prune_channels``, or to a ``budget`` after a sensitivity scan), recalibrates the
    BatchNorm statistics, fine-tunes through the trainer (which distils from its teacher when it has one),
    recalibrates again and reports per-group channels, parameters and validation accuracy.

    Args:
        keep_ratio: share of channels kept per group (``scope="layer"``) or overall (``"global"``), in (0, 1].
            Ignored when ``budget`` is given. Defaults to 0.5.
        epochs: fine-tuning epochs after the rebuild, or ``"auto"`` for about ``AUTO_STEPS`` optimizer steps
            (between 3 and 60 epochs). Defaults to "auto".
        criterion: ``"l1"``, ``"l2"``, ``"bn_gamma"`` or ``"taylor"``. Defaults to "l1".
        layer_ratios: dict layer name -> keep ratio of that layer's group. Defaults to None.
        exclude: layers whose groups keep all channels (input and classifier always do). Defaults to ().
        min_channels: fewest channels kept by any group. Defaults to 1.
        divisor: kept counts rounded up to a multiple of this. Defaults to 1.
        learning_rate: peak fine-tuning learning rate (None for the trainer's). Defaults to ``LEARNING_RATE``
            (3e-3).
        scope: ``"layer"`` or ``"global"`` (see ``plan_channels``). Defaults to "layer".
        budget: dict with ``max_bytes`` (int8 file), ``max_params`` and/or ``max_params_share``; when given, a
            sensitivity scan on the validation split sets per-group ratios instead of ``keep_ratio``.
            Defaults to None.
        recalibrate_bn: re-estimate BatchNorm statistics after the rebuild and after fine-tuning.
            Defaults to True.
    """

    name = "prune"
    reduces_size = True
    method = "channel"

    def __init__(self, keep_ratio=0.5, epochs="auto", criterion="l1", layer_ratios=None, exclude=(), min_channels=1,
                 divisor=1, learning_rate=LEARNING_RATE, scope="layer", budget=None, recalibrate_bn=True):
        check_number(self, "keep_ratio", keep_ratio, 0, 1, low_open=True, what=_KEEP_RATIO)
        if epochs != "auto":
            check_number(self, "epochs", epochs, 0, integer=True, what='an integer >= 0 or "auto"')
        check_choice(self, "criterion", criterion, importance_names())
        check_layer_map(self, "layer_ratios", layer_ratios, "a number in (0, 1]", low=0, high=1, low_open=True)
        check_names(self, "exclude", exclude, allow_str=True)
        check_number(self, "min_channels", min_channels, 1, integer=True)
        check_number(self, "divisor", divisor, 1, integer=True)
        check_number(self, "learning_rate", learning_rate, 0, low_open=True, none="the trainer's")
        check_choice(self, "scope", scope, CHANNEL_SCOPES)
        check_budget(self, budget)
        check_flag(self, "recalibrate_bn", recalibrate_bn)
        self.keep_ratio = keep_ratio
        self.epochs = epochs
        self.criterion = criterion
        self.layer_ratios = layer_ratios
        self.exclude = exclude
        self.min_channels = min_channels
        self.divisor = divisor
        self.learning_rate = learning_rate
        self.scope = scope
        self.budget = budget
        self.recalibrate_bn = recalibrate_bn

    def apply(self, model, trainer):
        graph = ChannelGraph(model, exclude_layers(model, self.exclude))  # refuses an unsupported layer before any work
        train, val = trainer.split("train"), trainer.split("val")
        taylor = list(trainer.batches("train", limit=DATA_BATCHES)) if self.criterion == "taylor" else None
        bn_inputs = _bn_inputs(train, trainer.batch_size) if self.recalibrate_bn else None
        options = {"criterion": self.criterion, "exclude": self.exclude, "min_channels": self.min_channels,
                   "divisor": self.divisor, "data": taylor}
        report = {"method": self.method}
        if self.budget:
            x_val, y_val = val.head(SCAN_SAMPLES)
            table = sensitivity_scan(model, x_val, y_val, criterion=self.criterion, x_calibration=bn_inputs,
                                     batch_size=trainer.batch_size, min_channels=self.min_channels,
                                     divisor=self.divisor, data=taylor, graph=graph)
            pruned, info = prune_to_budget(model, self.budget, table, graph,
                                           representative_data=train.head(REPRESENTATIVE_SAMPLES)[0], **options)
            report.update(sensitivity=table.to_dict(), budget=dict(self.budget, **info))
        else:
            pruned = prune_channels(model, self.keep_ratio, scope=self.scope, layer_ratios=self.layer_ratios,
                                    **options)
        if self.recalibrate_bn:
            recalibrate_batch_norm(pruned, bn_inputs, RECALIBRATION_BATCHES, trainer.batch_size)
        report["val_accuracy_before_finetune"] = trainer.evaluate(pruned)
        epochs = epochs_for_steps(train.size, trainer.batch_size, AUTO_STEPS, AUTO_EPOCHS) \
            if self.epochs == "auto" else self.epochs
        report["epochs"] = epochs
        trainer.fit(pruned, epochs, learning_rate=self.learning_rate)
        if self.recalibrate_bn and epochs > 0:
            recalibrate_batch_norm(pruned, bn_inputs, RECALIBRATION_BATCHES, trainer.batch_size)
        before, after = channel_counts(model), channel_counts(pruned)
        groups_after = group_counts(pruned)
        report.update({
            "channels": {name: [before[name], after[name]] for name in before if name in after},
            "groups": {g.name: [g.size, groups_after.get(g.name, g.size)] for g in graph.groups.values()
                       if g.prunable},
            "params_before": int(model.count_params()), "params_after": int(pruned.count_params()),
            "bytes_float32_after": sum(r["bytes_float32"] for r in sparsity_summary(pruned)),
            "val_accuracy": trainer.evaluate(pruned)})
        self._report = report
        return pruned


__all__ = ["MagnitudePruning", "MbyNPruning", "GradientPruning", "ChannelPruning"]
