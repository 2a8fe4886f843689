"""Fine-tuning shared by every stage: plain ``fit``, or inside a ``Distiller``.

A ``Trainer`` holds the data and, optionally, the teacher.  Stages call
``trainer.fit(model, epochs, callbacks)`` to fine-tune a model they changed;
with a teacher the model is trained as the student of a ``Distiller`` (the
teacher keeps guiding it while it is compressed), without one it is trained
on the labels alone.
"""

import numpy as np

from tfcompress._keras import keras
from tfcompress.data import check_dataset, sparse_labels


class Trainer:
    """Fine-tunes models on a data set, with or without a teacher.

    Args:
        data: dict with ``x_train, y_train, x_val, y_val`` (optionally ``x_test, y_test``), or a bound
            ``tfcompress.datasets.DataSource`` (e.g. an image folder, streamed from disk).
        teacher: a trained ``tf_keras`` model, or None for label-only training. Defaults to None.
        batch_size: Defaults to 64.
        learning_rate: peak learning rate of Adam (cosine decay over each ``fit``). Defaults to 1e-3.
        distill_options: ``Distiller`` arguments (``temperature``, ``alpha``) and ``loss`` (a distillation loss
            name). Defaults to None.
        verbose: Keras ``fit`` verbosity. Defaults to 0.
        workdir: folder where stages keep resumable state (e.g. search trials); None for a temporary
            folder. Defaults to None.
        teacher_cache: a ``tfcompress.distill.cache.TeacherCache`` of the teacher's outputs shared by the
            trainers of a run; None makes one for this trainer. Defaults to None.
        progress: function taking one line, for tfcompress's own per-epoch progress lines
            (``tfcompress.progress.EpochProgress``); None for none. Defaults to None.
        context: the ``tfcompress.pipeline.context.RunContext`` of the pipeline run the stage is part of (its
            provenance, measurement settings and caches), None outside a run. Defaults to None.
    """

    def __init__(self, data, teacher=None, batch_size=64, learning_rate=1e-3, distill_options=None, verbose=0,
                 workdir=None, teacher_cache=None, progress=None, context=None):
        from tfcompress.datasets import DataSource, as_source

        if context is None and not isinstance(data, DataSource):  # a run checked its data once (pipeline/start.py)
            check_dataset(data, require_train=False)  # data-free stages need only the evaluation split
        self.data = data
        self.source = as_source(data)
        self.teacher = teacher
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.distill_options = dict(distill_options or {})
        self.verbose = verbose
        self.workdir = workdir
        self.stage = "training"  # how errors name the training (the pipeline sets e.g. "stage 2 (prune)")
        self.label = "training"  # how progress lines name it (the pipeline sets e.g. "[2/4] prune")
        self.progress = progress
        self.callbacks = []  # callbacks every fit of this trainer adds (e.g. the run's steps recorder)
        self.context = context
        if teacher is not None and (teacher_cache is None or teacher_cache.teacher is not teacher):
            from tfcompress.distill.cache import TeacherCache

            teacher_cache = TeacherCache(teacher)
        self.teacher_cache = teacher_cache

    @property
    def input_shape(self):
        return tuple(self.source.input_shape)

    @property
    def num_classes(self):
        return self.source.num_classes

    def split(self, name):
        """The ``Split`` named ``name`` (``"train"``, ``"val"`` or ``"test"``) of this trainer's data."""
        return self.source.split(name)

    def fit(self, model, epochs, callbacks=None, learning_rate=None, validation=True, max_seconds=None,
            alpha=None):
        """Train ``model`` in place for ``epochs``; return the Keras history dict.

        ``max_seconds`` plans fewer epochs when the first ones show that ``epochs`` would take longer
        (``tfcompress.distill.schedule.TimeLimit``; the cosine decay then completes over the shorter run).
        ``alpha`` overrides the hard-label weight of the distillation (``guidance_alpha``); at 1 the teacher
        is not run at all.

        Raises:
            TrainingError: the loss became NaN or infinite (``tfcompress.guards.NanGuard``); the model then
                holds the weights of its last good epoch.
        """
        from tfcompress.distill.schedule import CosineDecay, TimeLimit
        from tfcompress.guards import with_nan_guard

        if epochs <= 0:
            return {}
        lr = self.learning_rate if learning_rate is None else learning_rate
        schedule = CosineDecay()
        limit = [TimeLimit(max_seconds, schedule)] if max_seconds else []
        callbacks = with_nan_guard(list(callbacks or []) + [schedule] + limit + self.progress_callbacks(limit),
                                   self.stage, lr)
        from tfcompress.datasets.feed import fit_feed, validation_feed

        teacher = self.teacher if alpha is None or alpha < 1.0 else None  # alpha 1: labels alone
        cache = self.teacher_cache if teacher is not None else None
        feed = fit_feed(self.split("train"), self.batch_size, teacher_cache=cache)
        val = validation_feed(self.split("val"), self.batch_size, teacher_cache=cache) if validation else None
        frozen = teacher.trainable if teacher is not None else None
        if teacher is not None:
            from tfcompress.distill.distiller import Distiller

            options = dict(self.distill_options)
            if alpha is not None:
                options["alpha"] = alpha
            loss = options.pop("loss", None)
            trainee = Distiller(student=model, teacher=self.teacher, **options)
            trainee.teacher_cache = self.teacher_cache
            trainee.compile(optimizer=keras.optimizers.Adam(lr), metrics=["accuracy"], distillation_loss=loss)
        else:
            trainee = model
            from tfcompress.distill.checks import output_kind

            logits = output_kind(model) == "logits"  # keras.applications models end in a softmax
            model.compile(optimizer=keras.optimizers.Adam(lr),
                          loss=classification_loss(self.split("train").labels, from_logits=logits),
                          metrics=["accuracy"])
        try:
            history = trainee.fit(**feed, epochs=epochs, validation_data=val, callbacks=callbacks,
                                  verbose=self.verbose)
        finally:
            if teacher is not None:  # the Distiller freezes its teacher; a model may be teacher and student later
                teacher.trainable = frozen
        return history.history

    def evaluate(self, model, split="val"):
        """Top-1 accuracy of ``model`` on a split (``"val"`` or ``"test"``)."""
        return self.split(split).accuracy(model, self.batch_size)

    def progress_callbacks(self, limit=()):
        """``[EpochProgress]`` when this trainer reports progress, then ``self.callbacks`` (``limit``: the fit's
        TimeLimit). Every stage's fit adds these."""
        if self.progress is None:
            return list(self.callbacks)
        from tfcompress.progress import EpochProgress

        limit = list(limit)
        return [EpochProgress(self.progress, self.label, limit=limit[0] if limit else None)] + list(self.callbacks)

    def guidance_alpha(self, model, alpha, when_ahead=None):
        """The hard-label weight to train ``model`` with: ``alpha``, or at least ``when_ahead`` when ``model``
        already matches or beats the teacher on the validation split (the teacher would teach its mistakes).

        Args:
            model: the student as it enters a stage.
            alpha: the configured weight.
            when_ahead: the weight when the student is ahead; None keeps ``alpha``. Defaults to None.

        Returns:
            ``(alpha to use, student val accuracy, teacher val accuracy)`` (accuracies None when not measured).
        """
        if when_ahead is None or self.teacher is None:
            return alpha, None, None
        student, teacher = self.evaluate(model), self.teacher_accuracy()
        return (max(alpha, when_ahead) if student >= teacher else alpha), student, teacher

    def teacher_accuracy(self, split="val"):
        """Top-1 accuracy of the teacher on a split (its outputs from the run's teacher cache)."""
        part = self.split(split)
        outputs = self.teacher_cache.split_logits(part) if part.streamed else \
            self.teacher_cache.outputs(self.teacher, part.x, batch_size=256)
        return float(np.mean(np.argmax(outputs, axis=-1) == sparse_labels(part.labels)))

    def batches(self, split="train", batch_size=None, limit=None):
        """Yield ``(x, y)`` NumPy batches of a split, in order, at most ``limit`` batches."""
        yield from self.split(split).numpy_batches(batch_size or self.batch_size, limit=limit)


def epochs_for_steps(n_train, batch_size, steps, bounds):
    """Epochs that make about ``steps`` optimizer steps on ``n_train`` samples, within ``bounds = (lo, hi)``.

    Stages with ``epochs: auto`` use it, so that a fine-tuning is as long in steps on 1,000 as on 60,000 samples.

    Example:
        >>> epochs_for_steps(1000, 50, 400, (3, 60)), epochs_for_steps(100000, 50, 400, (3, 60))
        (20, 3)
    """
    per_epoch = max(1, -(-int(n_train) // int(batch_size)))
    return int(min(bounds[1], max(bounds[0], round(steps / per_epoch))))


def classification_loss(y, from_logits=True):
    """Sparse or categorical cross-entropy, whichever fits the labels ``y``."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def accuracy(model, x, y, batch_size=256):
    """Top-1 accuracy of a Keras model on arrays."""
    pred = np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=-1)
    y = np.asarray(y)
    labels = y.argmax(-1) if (y.ndim == 2 and y.shape[1] > 1) else y.reshape(-1)
    return float(np.mean(pred == labels))


__all__ = ["Trainer", "accuracy", "classification_loss", "epochs_for_steps"]
