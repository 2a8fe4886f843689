"""Learning-rate schedule used by default when distilling and fine-tuning."""

import math

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
