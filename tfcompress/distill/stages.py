"""Pipeline stages for distillation: ``distill`` and ``feature_distill``."""

import time

import numpy as np

from tfcompress._keras import keras
from tfcompress.distill import defaults
from tfcompress.distill.augment import augmented_batches, shifted_batches  # noqa: F401 (shifted_batches re-exported)
from tfcompress.distill.distiller import Distiller
from tfcompress.distill.feature import FeatureDistiller
from tfcompress.distill.losses import _LOSSES
from tfcompress.errors import ConfigError
from tfcompress.guards import with_nan_guard
from tfcompress.distill.schedule import CosineDecay, TimeLimit
from tfcompress.distill.specs import LogitsDistillation
from tfcompress.stage import Stage, check_choice, check_flag, check_number, refuse_option, register_stage
from tfcompress.train import epochs_for_steps


def _require_student(model, trainer, stage):
    if trainer.teacher is None:
        raise ConfigError(f"the {stage} stage needs a teacher; give `teacher:` in the recipe.")
    if model is trainer.teacher:
        raise ConfigError(f"the {stage} stage needs a student: add `student:` to the recipe or a `search` stage "
                          f"before {stage}.")


def _penultimate_layer(model):
    """Name of the last layer before global pooling / flatten (the final feature map or vector)."""
    pooling = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D, keras.layers.Flatten)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, pooling) and i > 0:
            return model.layers[i - 1].name
    return model.layers[-2].name


AUGMENTS = (None, "shift", "auto")


#: ``epochs: auto`` trains for about this many optimizer steps (the 120 epochs of the default on the ~1,000
#: training digits at batch 32), between ``AUTO_EPOCHS`` epochs.
AUTO_STEPS = 4000
AUTO_EPOCHS = (10, 120)


def auto_epochs(n_train, batch_size, steps=AUTO_STEPS, bounds=AUTO_EPOCHS):
    """Epochs of the distill stage's ``epochs: auto`` (``tfcompress.train.epochs_for_steps``).

    Example:
        >>> auto_epochs(987, 32), auto_epochs(3600, 32), auto_epochs(60000, 32)
        (120, 36, 10)
    """
    return epochs_for_steps(n_train, batch_size, steps, bounds)


@register_stage
class Distill(Stage):
    """Distil the current student from the teacher (logit KD).

    Args:
        epochs: training epochs, or ``"auto"`` for about ``AUTO_STEPS`` optimizer steps (``auto_epochs``: 120
            epochs on 1,000 samples, 36 on 3,600, 10 on 60,000). Defaults to 30.
        temperature: Defaults to the Distiller default.
        alpha: weight of the hard-label loss; None for the Distiller's default (``defaults.ALPHA``, 0.1, or
            ``defaults.ALPHA_DKD``, 0.5, with ``loss: dkd``). Defaults to None.
        loss: ``"kl"``, ``"standardized_kl"`` or ``"dkd"``. Defaults to the Distiller default.
        learning_rate: peak learning rate (cosine decay). Defaults to ``defaults.LEARNING_RATE`` (1e-2: at 1e-3
            small students were under-trained and distillation lost to training from scratch).
        batch_size: Defaults to the trainer's.
        augment: None, or ``"shift"``: each image shifted at random by up to an eighth of its size (at least
            one pixel, zero fill), the same input given to teacher and student (teacher outputs are then
            computed per batch, not cached). Images only (rank-3 inputs). ``"auto"``: ``"shift"`` for image
            inputs, None otherwise. Defaults to None.
        mixup: the ``a`` of Beta(a, a) for mixup of inputs within a batch (``tfcompress.distill.augment``),
            teacher and student seeing the same blended input; 0 turns it off. Works for images and vectors.
            Defaults to 0.
        alpha_when_ahead: when the student's validation accuracy already matches or beats the teacher's before
            this stage, ``alpha`` is raised to at least this value, so that the student leans on the labels
            rather than learning the teacher's mistakes (at 1 the teacher is not run); None keeps ``alpha``.
            Defaults to ``defaults.ALPHA_WHEN_AHEAD`` (1.0).
        restore_best: end with the weights of the epoch of best validation accuracy. Defaults to False.
        max_seconds: time for the stage's training; fewer epochs are planned (the learning-rate schedule
            still completes) when the first epoch shows that ``epochs`` would not fit. None for no limit.
            Defaults to None.
    """

    name = "distill"
    needs_student = True

    def __init__(self, epochs=30, temperature=defaults.TEMPERATURE, alpha=None, loss=defaults.LOSS,
                 learning_rate=None, batch_size=None, augment=None, mixup=0.0, alpha_when_ahead=defaults.ALPHA_WHEN_AHEAD,
                 restore_best=False, max_seconds=None):
        check_choice(self, "augment", augment, AUGMENTS)
        self.augment = augment
        self.mixup = check_number(self, "mixup", mixup, low=0)
        if epochs != "auto":
            check_number(self, "epochs", epochs, low=0, integer=True, what='an integer >= 0 or "auto"')
        check_number(self, "temperature", temperature, low=0, low_open=True)
        check_number(self, "alpha", alpha, low=0, high=1, none="the Distiller's default")
        check_number(self, "learning_rate", learning_rate, low=0, low_open=True, none="the default")
        check_number(self, "batch_size", batch_size, low=1, integer=True, none="the trainer's")
        check_number(self, "alpha_when_ahead", alpha_when_ahead, low=0, high=1, none="no change")
        check_flag(self, "restore_best", restore_best)
        check_number(self, "max_seconds", max_seconds, low=0, low_open=True, none="no limit")
        if isinstance(loss, str):
            check_choice(self, "loss", loss, sorted(_LOSSES))
        self.epochs = epochs
        self.temperature = temperature
        self.alpha = alpha
        self.loss = loss
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.alpha_when_ahead = alpha_when_ahead
        self.restore_best = restore_best
        self.max_seconds = max_seconds

    def _alpha(self):
        if self.alpha is not None:
            return self.alpha
        return defaults.ALPHA_DKD if self.loss == "dkd" else defaults.ALPHA

    def _distiller(self, model, trainer, alpha):
        return Distiller(student=model, teacher=trainer.teacher, alpha=alpha,
                         distillation_losses=[LogitsDistillation(temperature=self.temperature, loss=self.loss)])

    def apply(self, model, trainer):
        _require_student(model, trainer, self.name)
        alpha, before, teacher_val = trainer.guidance_alpha(model, self._alpha(), self.alpha_when_ahead)
        before = trainer.evaluate(model) if before is None else before
        start = time.time()
        distiller = self._distiller(model, trainer, alpha)
        distiller.teacher_cache = getattr(trainer, "teacher_cache", None)
        lr = self.learning_rate or defaults.LEARNING_RATE
        distiller.compile(optimizer=keras.optimizers.Adam(lr), metrics=["accuracy"])
        from tfcompress.datasets import as_source
        from tfcompress.datasets.feed import fit_feed, validation_feed
        from tfcompress.pipeline.devices import global_batch_size

        source = getattr(trainer, "source", None) or as_source(trainer.data)
        train, val = source.split("train"), source.split("val")
        batch_size = global_batch_size(self.batch_size) or trainer.batch_size  # the stage's own is per replica
        epochs = auto_epochs(train.size, batch_size) if self.epochs == "auto" else self.epochs
        augment = self.augment
        if augment == "auto":
            augment = "shift" if len(train.sample_shape) == 3 else None
        cache = None if isinstance(self, FeatureDistill) else distiller.teacher_cache  # hints need the teacher run
        feed = fit_feed(train, batch_size, shift=augment == "shift", mixup=self.mixup, teacher_cache=cache)
        schedule = CosineDecay()  # per step, over the whole fit (or over fewer epochs under max_seconds)
        callbacks = [schedule]
        limit = TimeLimit(self.max_seconds, schedule) if self.max_seconds else None
        best = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=10 ** 9,
                                             restore_best_weights=True) if self.restore_best else None
        callbacks += [c for c in (limit, best) if c is not None]
        if hasattr(trainer, "progress_callbacks"):
            callbacks += trainer.progress_callbacks([limit] if limit else [])
        callbacks = with_nan_guard(callbacks, getattr(trainer, "stage", self.name), lr)
        distiller.fit(**feed, epochs=epochs, validation_data=validation_feed(val, batch_size, cache),
                      verbose=trainer.verbose, callbacks=callbacks)
        self._report = {"epochs": epochs, "epochs_run": limit.epochs_run if limit else epochs,
                        "augment": augment, "mixup": self.mixup, "alpha": alpha,
                        "teacher_val_accuracy": teacher_val, "val_accuracy_before": before,
                        "best_epoch": (best.best_epoch + 1) if best else None,
                        "val_accuracy_after": trainer.evaluate(model), "seconds": round(time.time() - start, 1)}
        return model


@register_stage
class FeatureDistill(Distill):
    """Distil with logit KD plus hint losses on intermediate layers.

    Args:
        layer_pairs: list of ``[student_layer, teacher_layer]``; None pairs the last feature layer (before global
            pooling or flatten) of each model. Defaults to None.
        feature_weight: weight of each hint loss. Defaults to 1.0.
        Other arguments as for ``distill``.
    """

    name = "feature_distill"
    teacher_internals = "inner layers"

    def __init__(self, epochs=30, layer_pairs=None, feature_weight=defaults.FEATURE_WEIGHT,
                 temperature=defaults.TEMPERATURE,
                 alpha=None, loss=defaults.LOSS, learning_rate=None, batch_size=None, augment=None,
                 mixup=0.0, alpha_when_ahead=defaults.ALPHA_WHEN_AHEAD, restore_best=False, max_seconds=None):
        super().__init__(epochs=epochs, temperature=temperature, alpha=alpha, loss=loss,
                         learning_rate=learning_rate, batch_size=batch_size, augment=augment, mixup=mixup,
                         alpha_when_ahead=alpha_when_ahead, restore_best=restore_best, max_seconds=max_seconds)
        self.feature_weight = check_number(self, "feature_weight", feature_weight, low=0)
        if layer_pairs is not None and not (isinstance(layer_pairs, (list, tuple)) and all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(n, str) for n in p)
                for p in layer_pairs)):
            refuse_option(self, "layer_pairs", "a list of [student_layer, teacher_layer] name pairs (or null)",
                          layer_pairs)
        self.layer_pairs = layer_pairs

    def _distiller(self, model, trainer, alpha):
        pairs = self.layer_pairs or [(_penultimate_layer(model), _penultimate_layer(trainer.teacher))]
        return FeatureDistiller(student=model, teacher=trainer.teacher, layer_pairs=pairs,
                                feature_weight=self.feature_weight, temperature=self.temperature, alpha=alpha,
                                loss=self.loss)
