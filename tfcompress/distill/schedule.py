"""Learning-rate schedule used by default when distilling and fine-tuning, and a time limit that shortens it."""

import math
import time

from tfcompress._keras import keras


class CosineDecay(keras.callbacks.Callback):
    """Cosine decay of the optimizer's learning rate over the whole ``fit`` call, per step.

    The optimizer's learning rate at the start of ``fit`` is the peak; it
    decays to ``final_fraction`` of the peak at the last step, after an optional
    linear warm-up.  It needs no step count: it reads ``epochs`` and ``steps``
    from the parameters Keras gives every callback (for a dataset of unknown
    length it decays once per epoch instead).  If the optimizer already
    uses a ``LearningRateSchedule``, this callback does nothing.

    Args:
        warmup_fraction: share of the steps spent warming up linearly. Defaults to 0.0.
        final_fraction: learning rate at the end as a share of the peak. Defaults to 0.0.
    """

    def __init__(self, warmup_fraction=0.0, final_fraction=0.0):
        super().__init__()
        self.warmup_fraction = warmup_fraction
        self.final_fraction = final_fraction
        self._peak = None
        self._steps = None
        self._step = 0
        self._total = 1

    def _lr_variable(self):
        lr = self.model.optimizer.learning_rate
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            return None
        return lr

    def on_train_begin(self, logs=None):
        if self._lr_variable() is None:
            return
        self._peak = float(keras.backend.get_value(self.model.optimizer.learning_rate))
        epochs = self.params.get("epochs") or 1
        self._steps = self.params.get("steps")  # None for a dataset of unknown length: decay per epoch
        self._total = max(1, (self._steps or 1) * epochs)
        self._step = 0

    def shorten(self, epochs):
        """Decay to the end over ``epochs`` epochs in all instead of the ``fit``'s (``TimeLimit`` calls this)."""
        if self._peak is not None:
            self._total = max(self._step + 1, (self._steps or 1) * int(epochs))

    def on_epoch_begin(self, epoch, logs=None):
        if self._peak is not None and not self._steps:
            self._step = epoch
            self._set(self._step / self._total)

    def on_train_batch_begin(self, batch, logs=None):
        if self._peak is None or not self._steps:
            return
        self._set(self._step / self._total)
        self._step += 1

    def _set(self, t):
        warm = self.warmup_fraction
        if warm > 0 and t < warm:
            factor = (t + 1.0 / self._total) / warm
        else:
            p = (t - warm) / max(1e-9, 1.0 - warm)
            factor = self.final_fraction + (1 - self.final_fraction) * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))
        keras.backend.set_value(self.model.optimizer.learning_rate, self._peak * factor)

    def on_train_end(self, logs=None):
        if self._peak is not None:  # leave the optimizer as it was found, so a second fit starts at the peak
            keras.backend.set_value(self.model.optimizer.learning_rate, self._peak)


class TimeLimit(keras.callbacks.Callback):
    """End a ``fit`` within ``max_seconds``, with the learning-rate schedule completed, not cut off.

    After every epoch from the second on, the mean time of the epochs after the first (which also pays for
    tracing the graph) says how many more fit in the time left; when the planned epochs do not, the callback
    plans fewer (never more), tells the ``CosineDecay`` of the same ``fit`` (when there is one) to decay over
    those, and stops training after the last of them. A first epoch that alone used up the time ends the fit.
    ``epochs_planned`` and ``epochs_run`` say what happened.

    Args:
        max_seconds: wall-clock seconds the whole ``fit`` may take.
        schedule: the ``CosineDecay`` callback of the same ``fit``, or None. Defaults to None.
    """

    def __init__(self, max_seconds, schedule=None):
        super().__init__()
        self.max_seconds = float(max_seconds)
        self.schedule = schedule
        self.epochs_planned = self.epochs_run = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._first = None
        self.epochs_planned = int(self.params.get("epochs") or 1)
        self.epochs_run = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_run = epoch + 1
        elapsed = time.perf_counter() - self._start
        if epoch == 0:
            self._first = elapsed
            if elapsed >= self.max_seconds:
                self._plan(1)
        else:
            per_epoch = max((elapsed - self._first) / epoch, 1e-6)
            self._plan(self.epochs_run + int(max(0.0, self.max_seconds - elapsed) // per_epoch))
        if self.epochs_run >= self.epochs_planned:
            self.model.stop_training = True

    def _plan(self, epochs):
        if epochs < self.epochs_planned:
            self.epochs_planned = epochs
            if self.schedule is not None:
                self.schedule.shorten(epochs)
