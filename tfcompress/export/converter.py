"""Keras → TFLite conversion with the TFLite converter (int8, int8 with float I/O, int16x8, float16, dynamic range,
float)."""

import re
import warnings

import numpy as np

from tfcompress._compat import converter_error
from tfcompress._keras import keras, tf
from tfcompress.data import calibration_rows
from tfcompress.errors import ConfigError, ConversionError, ShapeError
from tfcompress.export.cache import active_cache, fingerprint

FORMATS = ("int8", "int8_float_io", "int16x8", "float16", "dynamic", "float")
# Fully integer formats: they need representative data (or QAT ranges) and verify with no float compute.
# int16x8 is int16 activations (and I/O) with int8 weights: TFLite's 16x8 quantization, more accurate activations
# for about twice the activation memory; its op set is smaller than int8's.
INTEGER_FORMATS = ("int8", "int8_float_io", "int16x8")


def _is_qat_model(model):
    return any(type(layer).__name__ in ("QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer")
               for layer in model.layers)


def _strip_pruning(model):
    """Remove TFMOT pruning wrappers if any are left (the converter would keep their masks as extra ops)."""
    if not any(type(layer).__name__ == "PruneLowMagnitude" for layer in model.layers):
        return model
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise ConfigError(f"convert expects a tf_keras model (tfcompress.keras.Model), received "
                          f"{type(model).__module__}.{type(model).__name__}. Keras 3 models must be rebuilt with "
                          "tfcompress.keras or loaded with tfcompress.interop.load_model.")
    if not model.built or not model.inputs:
        raise ConfigError(f"model {model.name!r} has no defined inputs; build it (call it on data or give "
                          "keras.Input a shape) before converting.")


def _from_dataset(dataset, num_samples):
    """The first ``num_samples`` inputs of a batched ``tf.data.Dataset`` of ``x`` or ``(x, y[, w])``."""
    parts, count = [], 0
    for element in dataset:
        x = element[0] if isinstance(element, (tuple, list)) else element
        x = np.asarray(x)
        parts.append(x)
        count += x.shape[0] if x.ndim else 0
        if count >= num_samples:
            break
    if not parts:
        raise ConfigError("representative_data is an empty tf.data.Dataset; give real training inputs.")
    return np.concatenate(parts)


def _representative_inputs(model, representative_data, num_samples):
    """Check the representative data against the model inputs; return a list of float32 arrays (one per input)."""
    if isinstance(representative_data, tf.data.Dataset):
        representative_data = _from_dataset(representative_data, num_samples)
    arrays = list(representative_data) if isinstance(representative_data, (list, tuple)) else [representative_data]
    if len(arrays) != len(model.inputs):
        raise ShapeError(f"model {model.name!r} has {len(model.inputs)} inputs but representative_data holds "
                         f"{len(arrays)} arrays; give one array per input.")
    out = []
    n = min((np.shape(a)[0] if np.ndim(a) else 0) for a in arrays) if arrays else 0
    rows = calibration_rows(n, num_samples)  # the same rows for every input
    for arr, inp in zip(arrays, model.inputs):
        arr = np.asarray(arr)
        if not np.issubdtype(arr.dtype, np.number):
            raise ConfigError(f"representative_data must be numeric inputs, received dtype {arr.dtype}.")
        expected = tuple(inp.shape[1:])
        if arr.ndim != len(expected) + 1 or any(e is not None and e != a for e, a in zip(expected, arr.shape[1:])):
            raise ShapeError(f"representative_data has shape {arr.shape} but model input {inp.name!r} expects "
                             f"[n, {', '.join(str(e) for e in expected)}]; give a batch of real training inputs.")
        if arr.shape[0] == 0:
            raise ConfigError("representative_data is empty; give at least a few dozen real training inputs.")
        if not np.all(np.isfinite(arr)):
            raise ConfigError("representative_data holds NaN or infinite values; clean the inputs first.")
        out.append(arr[rows].astype("float32"))
    return out


def _concrete_function(model):
    specs = [tf.TensorSpec([None] + list(inp.shape[1:]), tf.float32, name=f"input_{i}")
             for i, inp in enumerate(model.inputs)]

    @tf.function
    def serve(*args):
        return model(list(args) if len(args) > 1 else args[0], training=False)

    return serve.get_concrete_function(*specs)


def _configure(converter, format, samples, qat):
    if format == "float":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if format == "float16":
        converter.target_spec.supported_types = [tf.float16]
        return
    if format == "dynamic":
        return
    if samples is not None:
        n = samples[0].shape[0]

        def representative_dataset():
            for i in range(n):
                yield [arr[i:i + 1] for arr in samples]

        converter.representative_dataset = representative_dataset
    if format == "int16x8":
        # the converter accepts only int16 or float32 I/O here; int16 keeps the whole file integer
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
        return
    if samples is not None or not qat:
        # A QAT model without data takes its ranges from training; the converter's int8-only check would
        # (wrongly) ask for data then, so the fully-integer check is left to verify_tflite.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if format == "int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8


def _explain(exc):
    """One-line cause of a converter failure, naming the op when the message does."""
    text = str(exc)
    ops = sorted(set(re.findall(r"'(tfl?\.[A-Za-z0-9_]+)'", text)))
    lines = [ln.strip() for ln in text.splitlines() if "error:" in ln]
    if lines:
        detail = lines[0].split("error:", 1)[1].strip()
    else:
        detail = (text.strip().splitlines() or [type(exc).__name__])[0]
    return ops, detail[:300]


def convert(model, format="int8", representative_data=None, num_samples=300):
    """Convert a tf_keras model to TFLite flatbuffer bytes.

    Works for plain tf_keras models, TFMOT quantization-aware models (``quantize_model`` output; the int8 ranges
    then come from training) and pruned models (pruning wrappers left in place are stripped first).

    Args:
        model: a built ``tf_keras`` model.
        format: one of "int8" (full integer, int8 input and output), "int8_float_io" (full integer ops, float32
            input and output), "float16" (float16 weights), "dynamic" (int8 weights, float activations), "float".
            Defaults to "int8".
        representative_data: NumPy array of real inputs (e.g. ``x_train``) used to calibrate activation ranges
            (a list of arrays for a multi-input model, or a batched ``tf.data.Dataset`` of ``x`` or ``(x, y)``);
            required for the int8 formats unless the model is quantization-aware. Never use random noise: the
            ranges would not match real inputs.
        num_samples: how many representative samples to use (a seeded random subset when there are more).
            Defaults to 300.

    Returns:
        The ``.tflite`` file content as ``bytes``.

    Raises:
        ConfigError: unknown format, missing representative data for int8, or not a tf_keras model.
        ShapeError: representative data do not fit the model inputs.
        ConversionError: the converter failed (naming the op that cannot be converted or integer-quantized).
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown TFLite format {format!r}; choose one of {', '.join(FORMATS)}.")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ConfigError(f"num_samples must be a positive integer, received {num_samples!r}.")
    _check_model(model)
    model = _strip_pruning(model)
    qat = _is_qat_model(model)
    samples = None
    if format in INTEGER_FORMATS:
        if representative_data is None and not qat:
            raise ConfigError(f"format {format!r} needs representative_data: a NumPy array of real inputs (e.g. "
                              "x_train[:300]) to calibrate activation ranges; random noise gives wrong ranges. "
                              "Or choose format='dynamic' or 'float16', which need no data.")
        if representative_data is not None:
            samples = _representative_inputs(model, representative_data, num_samples)
    cache = active_cache()
    key = fingerprint(model, format, samples, qat=qat) if cache is not None else None
    flat = cache.get(key) if key is not None else None
    if flat is None:
        flat = _convert(model, format, samples, qat)
        if key is not None:
            cache.put(key, flat)
    return flat


def _convert(model, format, samples, qat):  # noqa: A002 (the converter's word)
    """The TFLite converter run on a checked model and its calibration samples (see ``convert``)."""
    ConverterError = converter_error()

    errors = []
    # The concrete function first: from_keras_model (and from_concrete_functions given the model) export a
    # SavedModel that traces every layer's functions, 8-10 s for a 57-layer MobileNet against under 1 s
    # for the frozen function, with the same int8 outputs (tests/export/test_export_converter.py).
    for how in ("concrete", "keras"):
        try:
            if how == "keras":
                converter = tf.lite.TFLiteConverter.from_keras_model(model)
            else:
                converter = tf.lite.TFLiteConverter.from_concrete_functions([_concrete_function(model)])
            _configure(converter, format, samples, qat)
            with warnings.catch_warnings():
                # int8 I/O always triggers "Statistics for quantized inputs were expected": harmless here.
                warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
                return bytes(converter.convert())
        except ConverterError as exc:  # the graph itself cannot be converted: the other path fails the same way
            errors.append(exc)
            break
        except Exception as exc:  # tracing/saving problems of the Keras path: try a concrete function
            errors.append(exc)
    ops, detail = _explain(errors[-1])
    op_part = f" (op {', '.join(ops)})" if ops else ""
    if "neither a custom op nor a flex op" in str(errors[-1]):
        hint = ("this TensorFlow op has no TFLite builtin kernel in any format (TF Select ops are not enabled: "
                "microcontrollers and most delegates cannot run them); replace it with supported ops")
    elif format in INTEGER_FORMATS:
        hint = ("replace the layer or op with one that has an int8 TFLite kernel, or use "
                "format='int8_float_io'/'dynamic'")
    else:
        hint = "replace the unsupported layer or op"
    raise ConversionError(f"TFLite conversion of {model.name!r} to {format!r} failed{op_part}: {detail}. "
                          f"Fix: {hint}.") from errors[-1]
