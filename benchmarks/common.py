"""Small helpers shared by the benchmark scripts: timing, statistics, environment, atomic JSON/Markdown output.

Nothing here knows about a particular benchmark; keep it generic.
"""

import json
import os
import platform
import statistics
import sys
import tempfile
import time


def summarize(values):
    """Mean, sample standard deviation, median, min, max and count of a list of numbers.

    Args:
        values: numbers (at least one).

    Returns:
        A JSON-able dict with ``mean, std, median, min, max, n`` (``std`` is 0.0 for a single value).
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summarize() needs at least one value, received an empty list.")
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def fmt_mean_std(stats, scale=1.0, digits=1):
    """``"96.4 ± 0.5"`` from a ``summarize`` dict, values multiplied by ``scale`` (e.g. 100 for percent)."""
    return f"{stats['mean'] * scale:.{digits}f} ± {stats['std'] * scale:.{digits}f}"


class Stopwatch:
    """Context manager measuring wall-clock seconds (``seconds``) and this process's CPU seconds (``cpu_seconds``).

    On a machine shared with other jobs, CPU seconds are the steadier measure of the work done; wall-clock
    seconds include the time spent waiting for a core.

    Example:
        >>> with Stopwatch() as sw:
        ...     _ = sum(range(1000))
        >>> sw.seconds >= 0
        True
    """

    def __enter__(self):
        self._start, self._cpu_start = time.perf_counter(), time.process_time()
        self.seconds = self.cpu_seconds = None
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        self.cpu_seconds = time.process_time() - self._cpu_start
        return False


def time_calls(fn, repeats=3, warmup=1):
    """Call ``fn()`` ``warmup + repeats`` times and return the seconds of the last ``repeats`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        with Stopwatch() as sw:
            fn()
        times.append(sw.seconds)
    return times


def epoch_timer():
    """A Keras callback recording each epoch's wall-clock seconds in ``times`` and CPU seconds in ``cpu_times``.

    Keras is imported lazily (through ``tfcompress._keras``) so that this module stays importable without it.
    """
    from tfcompress._keras import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.cpu_times = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._start, self._cpu_start = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)
            self.cpu_times.append(time.process_time() - self._cpu_start)

    return EpochTimer()


def environment():
    """Versions and machine facts worth recording next to any measured number."""
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpu_count": os.cpu_count()}
    try:
        from tfcompress._keras import keras, tf

        info.update({"tensorflow": tf.__version__, "tf_keras": keras.__version__})
    except Exception as exc:  # pragma: no cover - only when TensorFlow is missing
        info["tensorflow"] = f"unavailable: {exc}"
    try:
        import tfcompress

        info["tfcompress"] = tfcompress.__version__
    except Exception:  # pragma: no cover
        pass
    return info


def _atomic_write(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically (temp file in the same folder, then ``os.replace``)."""
    _atomic_write(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    _atomic_write(path, text if text.endswith("\n") else text + "\n")


def markdown_table(headers, rows):
    """A GitHub Markdown table from a header list and a list of row lists (cells are converted with ``str``)."""
    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)
