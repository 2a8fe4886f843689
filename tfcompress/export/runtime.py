"""Running TFLite models in the LiteRT interpreter: prediction, accuracy and latency."""

import os
import platform
import time

import numpy as np

from tfcompress._compat import interpreter_ops
from tfcompress.errors import ConfigError, ConversionError, ShapeError
from tfcompress.fileio import read_tflite

LATENCY_NOTE = ("host CPU is a proxy for a phone: latency on a phone, NPU or microcontroller differs "
                "(int8 is often no faster than float on x86 under XNNPACK, and faster on ARM)")

#: Samples per interpreter invoke when no batch size is given.
PREDICT_BATCH = 256


def make_interpreter(tflite, num_threads=None, delegates=True):
    """A LiteRT ``Interpreter`` for TFLite bytes or a path, tensors allocated.

    Args:
        tflite: model bytes or ``.tflite`` path.
        num_threads: CPU threads. Defaults to the interpreter's default.
        delegates: apply the default delegate (XNNPACK) when True; plain builtin kernels when False (used to
            inspect the original ops). Defaults to True.

    XNNPACK refuses some valid int8 files when it prepares them, e.g. a fully connected layer whose
    ``input_scale * weight_scale / output_scale`` is 256 or more (a ReLU layer dead on every calibration row gets
    the converter's smallest output scale); LiteRT's builtin kernels run them. Such a file is then loaded without
    the delegate (``measure_latency`` reports ``delegate: none`` for it) instead of failing the run.

    Raises:
        ConversionError: the bytes are not a loadable TFLite model.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    data = read_tflite(tflite)
    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interpreter = Interpreter(model_content=data, num_threads=num_threads, experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        if delegates and "XNNPACK" in str(exc):
            return make_interpreter(data, num_threads=num_threads, delegates=False)
        raise ConversionError(f"the LiteRT interpreter cannot load this TFLite model: {str(exc).strip()[:300]}. "
                              "Re-export it with tfcompress export.") from None
    return interpreter


def quantize_input(x, detail):
    """Float inputs → the input tensor's dtype using its scale and zero point (no-op for float inputs)."""
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        q = np.round(np.asarray(x, dtype="float32") / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)
    return np.asarray(x).astype(dtype)


def dequantize_output(q, detail):
    """Output tensor values → float32 using its scale and zero point."""
    scale, zero_point = detail["quantization"]
    if np.issubdtype(detail["dtype"], np.integer) and scale:
        return (q.astype("float32") - zero_point) * scale
    return q.astype("float32")


def _run_batch(interpreter, x, inp, out):
    if tuple(inp["shape"]) != tuple(x.shape):
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], quantize_input(x, inp))
    interpreter.invoke()
    return dequantize_output(interpreter.get_tensor(out["index"]), out), inp, out


def predict_tflite(tflite, x, batch_size=None):
    """Run a single-input TFLite model on float inputs and return its dequantized float32 outputs.

    Args:
        tflite: model bytes or ``.tflite`` path.
        x: float inputs ``[n, ...]`` (the same values the Keras model takes; int8 models get them quantized).
        batch_size: samples per invoke; None runs up to 256 at a time. Defaults to None.

    Returns:
        ``np.ndarray`` of float32 outputs, ``[n, ...]``.

    Raises:
        ShapeError: the inputs do not fit the model's input shape.
        ConversionError: the model cannot be loaded or run.
    """
    return tflite_predictor(tflite, batch_size)(x)


def tflite_predictor(tflite, batch_size=None):
    """A function ``x -> outputs`` like ``predict_tflite`` that keeps one interpreter for many calls (batches of
    a stream)."""
    interpreter = make_interpreter(tflite)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConfigError(f"predict_tflite runs models with one input and one output; this model has "
                          f"{len(inputs)} inputs and {len(outputs)} outputs.")
    details = {"inp": inputs[0], "out": outputs[0]}

    def predict(x):
        inp, out = details["inp"], details["out"]
        x = np.asarray(x)
        expected = tuple(int(d) for d in inp["shape_signature"][1:])
        if x.ndim != len(expected) + 1 or any(e not in (-1, a) for e, a in zip(expected, x.shape[1:])):
            raise ShapeError(f"inputs have shape {x.shape} but the TFLite model expects [n, "
                             f"{', '.join(str(e) for e in expected)}]; reshape the data or export a model built for "
                             "it.")
        if x.shape[0] == 0:
            raise ShapeError("predict_tflite received 0 samples.")
        step = batch_size or PREDICT_BATCH
        fixed_batch = int(inp["shape_signature"][0]) != -1
        if fixed_batch:
            step = int(inp["shape"][0])
        results = []
        for start in range(0, x.shape[0], step):
            chunk = x[start:start + step]
            n = chunk.shape[0]
            if fixed_batch and n < step:  # pad the last chunk of a model with a fixed batch size
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - n, axis=0)])
            try:
                y, inp, out = _run_batch(interpreter, chunk, inp, out)
            except (ValueError, RuntimeError) as exc:
                raise ConversionError(f"the TFLite model failed on inputs of shape {chunk.shape}: "
                                      f"{str(exc).strip()[:300]}") from None
            results.append(y[:n])
        details.update(inp=inp, out=out)
        return np.concatenate(results)
    return predict


def evaluate_tflite(tflite, x, y, batch_size=None):
    """Top-1 accuracy of a TFLite classifier on ``(x, y)`` (class ids or one-hot labels).

    Args:
        tflite: model bytes or ``.tflite`` path.
        x: float inputs.
        y: labels ``[n]`` class ids or ``[n, C]`` one-hot.
        batch_size: samples per invoke (see ``predict_tflite``). Defaults to None.

    Returns:
        Accuracy as a float in [0, 1].
    """
    from tfcompress.data import check_labels, sparse_labels

    check_labels(y, name="evaluate_tflite labels")
    labels = sparse_labels(y)
    if len(labels) != len(x):
        raise ShapeError(f"evaluate_tflite: {len(x)} inputs but {len(labels)} labels; they must match.")
    return float(evaluate_tflite_batches(tflite, [(x, labels)], batch_size))


def evaluate_tflite_batches(tflite, batches, batch_size=None):
    """Top-1 accuracy of a TFLite classifier on an iterable of ``(x, y)`` NumPy batches (a streamed split), one
    interpreter for all of them (``batch_size``: samples per invoke, as for ``predict_tflite``)."""
    from tfcompress.data import sparse_labels

    predict = tflite_predictor(tflite, batch_size)
    right = total = 0
    for x, y in batches:
        labels = sparse_labels(y)
        right += int(np.sum(predict(x).reshape(len(labels), -1).argmax(axis=1) == labels))
        total += len(labels)
    if not total:
        raise ShapeError("evaluate_tflite_batches received no samples.")
    return right / total


def host_info():
    """Platform facts that qualify a latency number."""
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "python": platform.python_version()}


def measure_latency(tflite, runs=200, warmup=20, num_threads=1, use_xnnpack=True):
    """Median and 90th-percentile time of one batch-1 inference in the LiteRT interpreter on this host.

    Inputs are zeros of the input dtype (the values do not change the work of these kernels).

    Args:
        tflite: model bytes or ``.tflite`` path.
        runs: timed invocations. Defaults to 200.
        warmup: untimed invocations first. Defaults to 20.
        num_threads: interpreter threads. Defaults to 1.
        use_xnnpack: apply the default XNNPACK delegate (as LiteRT does); False times the builtin kernels.
            Defaults to True.

    Returns:
        dict with ``median_us``, ``p90_us``, ``mean_us``, ``runs``, ``warmup``, ``num_threads``, ``delegate``,
        ``host`` (platform info) and ``note`` (host latency is a proxy for a phone).
    """
    if not isinstance(runs, int) or runs < 1:
        raise ConfigError(f"runs must be a positive integer, received {runs!r}.")
    if not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"warmup must be a non-negative integer, received {warmup!r}.")
    interpreter = make_interpreter(tflite, num_threads=num_threads, delegates=use_xnnpack)
    for detail in interpreter.get_input_details():
        shape = [1 if d == -1 else int(d) for d in detail["shape_signature"]] or list(detail["shape"])
        if list(detail["shape"]) != shape:
            interpreter.resize_tensor_input(detail["index"], shape)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    delegated = any(op["op_name"] == "DELEGATE" for op in interpreter_ops(interpreter))
    for _ in range(warmup):
        interpreter.invoke()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        times[i] = (time.perf_counter_ns() - start) / 1000.0
    return {"median_us": float(np.median(times)), "p90_us": float(np.percentile(times, 90)),
            "mean_us": float(times.mean()), "runs": runs, "warmup": warmup, "num_threads": num_threads,
            "batch_size": 1,
            "delegate": "XNNPACK (default)" if delegated else "none (builtin reference/optimized kernels)",
            "host": host_info(), "note": LATENCY_NOTE}
