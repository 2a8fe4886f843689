"""tfcompress's own progress lines: the stage, the epoch or trial it is at, and the time left.

Keras's and KerasTuner's per-epoch and per-trial output is off unless asked for (``--verbose``); these take
its place, one line at a time, at most every ``every_seconds`` (and always for the last epoch).
"""

import time

from tfcompress._keras import keras


def format_seconds(seconds):
    """``"45 s"``, ``"3m05s"`` or ``"1h02m"``.

    Example:
        >>> format_seconds(45.2), format_seconds(185), format_seconds(3720)
        ('45 s', '3m05s', '1h02m')
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class EpochProgress(keras.callbacks.Callback):
    """A line per epoch (rate-limited): ``<label>: epoch 12/36, val_accuracy 0.9712, 41 s, ~1m20s left``.

    The planned epochs come from a ``TimeLimit`` among the fit's callbacks when there is one (it may plan
    fewer than ``fit`` was given), else from ``fit``'s ``epochs``.

    Args:
        log: function taking one line.
        label: what is training, e.g. ``"[2/4] distill"``.
        every_seconds: least time between two lines. Defaults to 10.
        limit: the fit's ``TimeLimit`` callback, or None. Defaults to None.
    """

    def __init__(self, log, label, every_seconds=10.0, limit=None):
        super().__init__()
        self.log, self.label, self.every_seconds, self.limit = log, label, float(every_seconds), limit
        self._start = self._last = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._last = -float("inf")

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        planned = self.limit.epochs_planned if self.limit is not None and self.limit.epochs_planned else \
            int(self.params.get("epochs") or 1)
        done = epoch + 1
        if now - self._last < self.every_seconds and done < planned:
            return
        self._last = now
        elapsed = now - self._start
        logs = logs or {}
        key = next((k for k in ("val_accuracy", "accuracy", "loss") if k in logs), None)
        metric = f", {key} {float(logs[key]):.4f}" if key else ""
        left = elapsed / done * max(0, planned - done)
        self.log(f"{self.label}: epoch {done}/{planned}{metric}, {format_seconds(elapsed)}"
                 + (f", ~{format_seconds(left)} left" if done < planned else ""))


__all__ = ["EpochProgress", "format_seconds"]
