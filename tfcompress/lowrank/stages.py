"""The ``factorize`` stages of a recipe: ``svd`` (default) and ``pca``.

Recipe examples::

    - factorize: {energy: 0.9, epochs: 2}
    - factorize: {method: svd, target: 0.5, conv_mode: spatial}
    - factorize: {method: pca, rank: {dense: 8}, source: outputs, num_batches: 8}
"""

from tfcompress.errors import ConfigError
from tfcompress.lowrank.factorize import factorize_svd
from tfcompress.lowrank.linalg import CONV_MODES
from tfcompress.lowrank.pca import SOURCES, factorize_pca
from tfcompress.lowrank.ranks import check_rule
from tfcompress.stage import (Stage, check_choice, check_flag, check_layer_map, check_names, check_number, is_number,
                              refuse_option, register_stage, stage_label)


class _Factorize(Stage):
    name = "factorize"
    reduces_size = True

    def _check_common(self):
        check_number(self, "energy", self.energy, 0, 1, low_open=True, none="the default rule (energy 0.9)",
                     what="a number in (0, 1] (the share of each layer's spectrum kept), or null")
        if self.rank is not None:
            if isinstance(self.rank, dict):
                check_layer_map(self, "rank", self.rank, "an integer >= 1", low=1, integer=True)
            else:
                check_number(self, "rank", self.rank, 1, integer=True,
                             what="an integer >= 1, a mapping layer name -> integer >= 1, or null")
        if self.target is not None and not (is_number(self.target, integer=True) and self.target >= 1
                                            or is_number(self.target) and 0 < self.target < 1):
            refuse_option(self, "target", "a parameter count (an integer >= 1) or a share of the current count "
                          "(a number in (0, 1)), or null", self.target)
        try:
            check_rule(self.energy, self.rank, self.target)  # at most one of energy, rank and target
        except ConfigError as exc:
            raise ConfigError(f"{stage_label(self)}: {exc}") from None
        check_number(self, "epochs", self.epochs, 0, integer=True)
        check_number(self, "learning_rate", self.learning_rate, 0, low_open=True, none="the trainer's")
        check_names(self, "layers", self.layers)
        check_flag(self, "only_if_smaller", self.only_if_smaller)

    def _finish(self, model, new_model, report, trainer):
        """Evaluate (when a trainer is given), fine-tune for ``epochs``, store the report."""
        if trainer is not None:
            report["val_accuracy_before"] = trainer.evaluate(model)
            report["val_accuracy_factorized"] = trainer.evaluate(new_model)
        if self.epochs:
            if trainer is None:
                raise ConfigError(f"factorize: epochs={self.epochs} needs a trainer to fine-tune with; pass one, "
                                  "or set epochs=0.")
            trainer.fit(new_model, self.epochs, learning_rate=self.learning_rate)
            report["val_accuracy_finetuned"] = trainer.evaluate(new_model)
        report["epochs"] = self.epochs
        self._report = report
        return new_model


@register_stage
class SVDFactorize(_Factorize):
    """Truncated-SVD factorization of Dense and Conv kernels, then optional fine-tuning.

    Args:
        energy: keep this share of every layer's squared singular values, in (0, 1].
        rank: an int rank for every layer, or a dict ``layer name -> rank``.
        target: parameter budget of the whole model: int count, or float share in (0, 1).
            At most one of energy, rank and target; none means ``energy=0.9``.
        conv_mode: "channel" (k×k conv with r filters, then 1×1), "spatial" (kh×1 then 1×kw; Conv2D)
            or "none". Defaults to "channel".
        layers: names of the layers to consider; None for all. Defaults to None.
        only_if_smaller: leave alone layers that factorization would not shrink. Defaults to True.
        epochs: fine-tuning epochs through the trainer afterwards. Defaults to 0.
        learning_rate: fine-tuning learning rate; None for the trainer's. Defaults to None.
    """

    method = "svd"
    default_method = True

    def __init__(self, energy=None, rank=None, target=None, conv_mode="channel", layers=None,
                 only_if_smaller=True, epochs=0, learning_rate=None):
        self.energy = energy
        self.rank = rank
        self.target = target
        self.conv_mode = conv_mode
        self.layers = layers
        self.only_if_smaller = only_if_smaller
        self.epochs = epochs
        self.learning_rate = learning_rate
        self._check_common()
        check_choice(self, "conv_mode", conv_mode, CONV_MODES + ("none",))

    def apply(self, model, trainer=None):
        new_model, report = factorize_svd(model, energy=self.energy, rank=self.rank, target=self.target,
                                          conv_mode=self.conv_mode, layers=self.layers,
                                          only_if_smaller=self.only_if_smaller)
        return self._finish(model, new_model, report, trainer)


@register_stage
class PCAFactorize(_Factorize):
    """Data-aware factorization on the principal directions of layer outputs (or inputs), then fine-tuning.

    Statistics come from ``trainer.batches("train", limit=num_batches)``.

    Args:
        energy: keep this share of every layer's variance, in (0, 1].
        rank: an int rank for every layer, or a dict ``layer name -> rank``.
        target: parameter budget of the whole model: int count, or float share in (0, 1).
            At most one of energy, rank and target; none means ``energy=0.9``.
        source: "outputs" (pre-activation responses; Dense and Conv) or "inputs" (Dense only).
            Defaults to "outputs".
        conv_mode: "channel" or "none". Defaults to "channel".
        layers: names of the layers to consider; None for all. Defaults to None.
        only_if_smaller: leave alone layers that factorization would not shrink. Defaults to True.
        num_batches: training batches used to measure the statistics. Defaults to 8.
        epochs: fine-tuning epochs through the trainer afterwards. Defaults to 0.
        learning_rate: fine-tuning learning rate; None for the trainer's. Defaults to None.
    """

    method = "pca"

    def __init__(self, energy=None, rank=None, target=None, source="outputs", conv_mode="channel", layers=None,
                 only_if_smaller=True, num_batches=8, epochs=0, learning_rate=None):
        self.energy = energy
        self.rank = rank
        self.target = target
        self.source = source
        self.conv_mode = conv_mode
        self.layers = layers
        self.only_if_smaller = only_if_smaller
        self.num_batches = num_batches
        self.epochs = epochs
        self.learning_rate = learning_rate
        self._check_common()
        check_choice(self, "conv_mode", conv_mode, ("channel", "none"))
        check_choice(self, "source", source, SOURCES)
        check_number(self, "num_batches", num_batches, 1, integer=True)

    def apply(self, model, trainer):
        if trainer is None:
            raise ConfigError("factorize (method pca) measures layer statistics on training data: pass a "
                              "tfcompress Trainer, or use method 'svd', which needs no data.")
        new_model, report = factorize_pca(model, trainer.batches("train", limit=self.num_batches),
                                          energy=self.energy, rank=self.rank, target=self.target,
                                          source=self.source, conv_mode=self.conv_mode, layers=self.layers,
                                          only_if_smaller=self.only_if_smaller)
        return self._finish(model, new_model, report, trainer)


__all__ = ["SVDFactorize", "PCAFactorize"]
