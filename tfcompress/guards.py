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
        monitor: the logged losses to watch (models that log no ``loss``, such as
            ``tfcompress.DataFreeDistiller``, name theirs). Defaults to ``("loss",)``.
    """

    def __init__(self, stage="training", learning_rate=None, monitor=("loss",)):
        super().__init__()
        self.stage = stage
        self.learning_rate = learning_rate
        self.monitor = tuple(monitor)
        self._good = None
        self._good_epoch = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._good = self.model.get_weights()
        self._good_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _check(self, logs, batch):
        for key in self.monitor:
            loss = (logs or {}).get(key)
            if loss is not None and not _finite(loss):
                self._fail(key, float(np.asarray(loss)), batch)

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, None)
        self._good = self.model.get_weights()
        self._good_epoch = epoch + 1

    def _fail(self, key, loss, batch):
        self.model.stop_training = True
        if self._good is not None:
            self.model.set_weights(self._good)
        where = f"epoch {self._epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
        kept = (f"the weights after epoch {self._good_epoch} were restored" if self._good_epoch
                else "the weights from before training were restored")
        lr = f" (now {self.learning_rate:g})" if isinstance(self.learning_rate, (int, float)) else ""
        what = "the training loss" if key == "loss" else f"the training's {key}"
        raise TrainingError(f"{self.stage}: {what} became {loss} at {where}; training stopped and "
                            f"{kept}, nothing was exported. Lower the learning rate{lr}, e.g. by 10x, or check "
                            "the data for extreme values.")


def _finite(value):
    try:
        return math.isfinite(float(np.asarray(value)))
    except (TypeError, ValueError):
        return True  # not a number: nothing to judge


def with_nan_guard(callbacks, stage="training", learning_rate=None, monitor=("loss",)):
    """``callbacks`` (a list or None) plus a ``NanGuard`` watching ``monitor``, unless one is already there."""
    callbacks = list(callbacks or [])
    if not any(isinstance(c, NanGuard) for c in callbacks):
        callbacks.append(NanGuard(stage, learning_rate, monitor))
    return callbacks


def check_teacher(model, what="teacher"):
    """Pre-flight check that a model outputs class scores: one tensor of shape ``[batch, C]`` with ``C >= 2``.

    Args:
        model: a ``tf_keras`` model.
        what: how to name the model in messages. Defaults to "teacher".

    Raises:
        ModelError: several outputs, outputs that are not 2-D, or a single output unit (a regression head).
    """
    from tfcompress.errors import ModelError

    shape = model.output_shape
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape and isinstance(shape[0], tuple)):
        raise ModelError(f"the {what} has {len(shape)} outputs {list(shape)}; tfcompress needs one output of class "
                         "scores [batch, classes]. Fix: save a model with only the classification head.")
    if isinstance(shape, dict):
        raise ModelError(f"the {what} has named outputs {sorted(shape)}; tfcompress needs one output of class "
                         "scores [batch, classes]. Fix: save a model with only the classification head.")
    if len(shape) != 2:
        raise ModelError(f"the {what}'s output has shape {tuple(shape)}, not class scores [batch, classes]. Fix: "
                         "end the model with pooling/flatten and a Dense(classes) layer.")
    if shape[-1] is None or int(shape[-1]) < 2:
        raise ModelError(f"the {what} outputs {shape[-1]} value(s) per sample, not class scores (need >= 2 "
                         "classes); is it a regression model? tfcompress compresses classifiers.")


def check_output_dir(path):
    """Pre-flight check that ``path`` can be created (if missing) and written; create it.

    Raises:
        ConfigError: a file is in the way, or the folder cannot be created or written.
    """
    import os
    import tempfile

    from tfcompress.errors import ConfigError

    path = os.fspath(path)
    parent = path
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise ConfigError(f"output folder {path!r} cannot be created: {parent!r} is a file. Fix: choose another "
                          "`output:` folder.")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(f"output folder {path!r} is not writable ({exc.strerror or exc}). Fix: choose another "
                          "`output:` folder or fix its permissions.") from None


__all__ = ["NanGuard", "check_output_dir", "check_teacher", "with_nan_guard"]
