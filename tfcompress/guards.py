"""Guards against faults that would otherwise surface late or silently.

``NanGuard`` is a Keras callback that stops training as soon as the loss is
NaN or infinite, puts back the weights of the last epoch that ended with a
finite loss, and raises ``TrainingError`` naming the stage, the epoch and the
batch. ``Trainer.fit`` and the distillation stages add it to every ``fit``, so
a diverged model is never measured, saved or exported.

Example::

    >>> import numpy as np
    >>> from tfcompress import build_mlp
    >>> from tfcompress._keras import keras
    >>> model = build_mlp((4,), 2, units=(4,))
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> x = np.full((8, 4), np.inf, "float32"); y = np.zeros(8, "int32")
    >>> try:
    ...     model.fit(x, y, verbose=0, callbacks=[NanGuard("demo")])
    ... except TrainingError as exc:
    ...     print(str(exc).split(";")[0])
    demo: the training loss became nan at epoch 1, batch 1
"""

import math

import numpy as np

from tfcompress._keras import keras
from tfcompress.errors import TrainingError


class NanGuard(keras.callbacks.Callback):
    """Stop on a non-finite training loss, restore the last good weights and raise ``TrainingError``.

    The weights are snapshotted when training begins and at the end of every epoch whose loss is finite;
    on a NaN or infinite batch loss training stops, the snapshot is put back into the model and the error
    is raised out of ``fit``.

    Args:
        stage: how to name the training in the message (e.g. ``"stage 2 (prune)"``). Defaults to "training".
        learning_rate: the learning rate in use, quoted in the advice. Defaults to None.
    """

    def __init__(self, stage="training", learning_rate=None):
        super().__init__()
        self.stage = stage
        self.learning_rate = learning_rate
        self._good = None
        self._good_epoch = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._good = self.model.get_weights()
        self._good_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            self._fail(float(np.asarray(loss)), batch)

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            self._fail(float(np.asarray(loss)), None)
        self._good = self.model.get_weights()
        self._good_epoch = epoch + 1

    def _fail(self, loss, batch):
        self.model.stop_training = True
        if self._good is not None:
            self.model.set_weights(self._good)
        where = f"epoch {self._epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
        kept = (f"the weights after epoch {self._good_epoch} were restored" if self._good_epoch
                else "the weights from before training were restored")
        lr = f" (now {self.learning_rate:g})" if isinstance(self.learning_rate, (int, float)) else ""
        raise TrainingError(f"{self.stage}: the training loss became {loss} at {where}; training stopped and "
                            f"{kept}, nothing was exported. Lower the learning rate{lr}, e.g. by 10x, or check "
                            "the data for extreme values.")


def _finite(value):
    try:
        return math.isfinite(float(np.asarray(value)))
    except (TypeError, ValueError):
        return True  # not a number: nothing to judge


def with_nan_guard(callbacks, stage="training", learning_rate=None):
    """``callbacks`` (a list or None) plus a ``NanGuard``, unless one is already there."""
    callbacks = list(callbacks or [])
    if not any(isinstance(c, NanGuard) for c in callbacks):
        callbacks.append(NanGuard(stage, learning_rate))
    return callbacks


__all__ = ["NanGuard", "with_nan_guard"]
