"""Measure a model as the exported file a user would ship.

Every number comes from a converted ``.tflite`` run in the LiteRT interpreter
(``tfcompress.export``): size in bytes and gzip bytes, top-1 accuracy of the
file on held-out data, and median latency with the interpreter settings used.
"""

import time

import numpy as np

from tfcompress.data import calibration_inputs


def eval_split(data):
    """The held-out split used for measurements: ``"test"`` if the data have one, else ``"val"``."""
    from tfcompress.datasets import as_source

    return as_source(data).eval_name


def measure_model(model, data, fmt="int8", num_samples=300, latency_runs=200, num_threads=1):
    """Convert ``model`` to TFLite and measure the file.

    Args:
        model: a ``tf_keras`` model (plain, or QAT-wrapped).
        data: the data dict; ``x_train`` feeds the int8 calibration, the test split (or val) the accuracy.
        fmt: TFLite format (``"int8"``, ``"float32"``, ``"float16"``, ``"dynamic"``). Defaults to "int8".
        num_samples: representative samples for int8 calibration. Defaults to 300.
        latency_runs: timed interpreter invocations (0 to skip latency). Defaults to 200.
        num_threads: interpreter threads. Defaults to 1.

    Returns:
        A JSON-able dict: ``format, params, tflite_bytes, gzip_bytes, sparsity, accuracy, split,
        latency_median_us, latency`` (the interpreter's full latency record) and ``measure_s``.
    """
    from tfcompress.export import convert

    start = time.perf_counter()
    rep = calibration_inputs(data, num_samples)
    flat = convert(model, format=fmt, representative_data=rep, num_samples=num_samples)
    out = measure_file(flat, data, fmt=fmt, params=int(model.count_params()), latency_runs=latency_runs,
                       num_threads=num_threads)
    out["measure_s"] = round(time.perf_counter() - start, 3)
    return out


def measure_file(flat, data, fmt="int8", params=None, latency_runs=200, num_threads=1):
    """Measure a converted ``.tflite`` (bytes or path); see ``measure_model`` for the keys returned (and
    ``val_accuracy``, the file's accuracy on the validation split)."""
    from tfcompress.datasets import as_source
    from tfcompress.export import measure_latency, model_size

    if not isinstance(flat, (bytes, bytearray)):
        with open(flat, "rb") as f:
            flat = f.read()
    source = as_source(data)
    split = source.eval_name
    size = model_size(flat)
    out = {
        "format": fmt,
        "params": params if params is not None else size.get("params"),
        "tflite_bytes": int(size["tflite_bytes"]),
        "gzip_bytes": int(size["gzip_bytes"]),
        "sparsity": _float(size.get("sparsity")),
        "accuracy": source.split(split).tflite_accuracy(flat),
        "split": split,
        "eval_samples": source.split(split).size,
        # what stages are judged on (tfcompress.pipeline.guard): never the test split
        "val_accuracy": source.split("val").tflite_accuracy(flat) if split != "val" else None,
    }
    if out["val_accuracy"] is None:
        out["val_accuracy"] = out["accuracy"]
    if latency_runs:
        lat = measure_latency(flat, runs=latency_runs, warmup=min(20, latency_runs), num_threads=num_threads)
        out["latency_median_us"] = float(lat["median_us"])
        out["latency"] = {k: _jsonable(v) for k, v in lat.items()}
    else:
        out["latency_median_us"] = None
    return out


def from_card(card, data, fmt="int8", params=None):
    """The measurements of an exported file taken from its model card (the exporter already evaluated and timed
    it on ``eval_split(data)``), in the keys of ``measure_file``; None when the card lacks accuracy or latency."""
    accuracy, latency = card.get("accuracy") or {}, card.get("latency") or {}
    if accuracy.get("tflite") is None or latency.get("median_us") is None:
        return None
    from tfcompress.datasets import as_source

    source = as_source(data)
    split = source.eval_name
    out = {
        "format": fmt,
        "params": params if params is not None else card.get("params"),
        "tflite_bytes": int(card["file"]["bytes"]),
        "gzip_bytes": int(card["file"]["gzip_bytes"]),
        "sparsity": _float(card.get("sparsity")),
        "accuracy": float(accuracy["tflite"]),
        "split": split,
        "eval_samples": source.split(split).size,
        "latency_median_us": float(latency["median_us"]),
        "latency": {k: _jsonable(v) for k, v in latency.items()},
    }
    if card.get("tflm"):  # the file was run in TensorFlow Lite Micro: its measured arena (peak RAM)
        out["arena_bytes"] = int(card["tflm"]["arena_bytes"])
    return out


def ratios(reference, current):
    """Compression ratio, speed-up ratio and accuracy drop of ``current`` against ``reference``.

    Each is None when a number it needs was not measured; a speed-up below 1 is reported as is.
    """
    def div(a, b):
        return float(a) / float(b) if a and b else None

    return {
        "compression_ratio": div(reference.get("tflite_bytes"), current.get("tflite_bytes")),
        "gzip_compression_ratio": div(reference.get("gzip_bytes"), current.get("gzip_bytes")),
        "speedup_ratio": div(reference.get("latency_median_us"), current.get("latency_median_us")),
        "accuracy_drop": (float(reference["accuracy"]) - float(current["accuracy"])
                          if reference.get("accuracy") is not None and current.get("accuracy") is not None
                          else None),
    }


def _float(value):
    return None if value is None else float(value)


def _jsonable(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


__all__ = ["measure_model", "measure_file", "ratios", "eval_split"]
