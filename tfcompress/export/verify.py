"""Verification of a converted model: it loads, runs, matches its Keras source, and is fully integer if asked."""

import numpy as np

from tfcompress.errors import ConversionError, ShapeError
from tfcompress.fileio import read_tflite
from tfcompress.export.inspection import inspect_tflite
from tfcompress.export.runtime import PREDICT_BATCH


def verify_tflite(tflite, x=None, y=None, keras_model=None, require_integer=None, batch_size=None, batches=None):
    """Load a TFLite model in the LiteRT interpreter, run data through it and compare it with its Keras source.

    Inputs are quantized with the input tensor's scale and zero point and outputs dequantized, so the numbers are
    comparable with the Keras model's float outputs.

    Args:
        tflite: model bytes or ``.tflite`` path.
        x: float inputs to run (optional; without them only loading and the integer check are verified).
        y: labels for ``x`` (class ids or one-hot) to measure accuracy. Defaults to None.
        keras_model: the Keras model it came from, to compare outputs and accuracy. Defaults to None.
        require_integer: True raises if any op computes in float (an int8 model that fell back to float); False
            or None only report ``is_fully_integer``. Defaults to None.
        batch_size: samples per invoke. Defaults to None (up to 256).
        batches: instead of ``x`` and ``y``, an iterable of labelled ``(x, y)`` NumPy batches (a streamed split,
            ``Split.numpy_batches()``), read once; the same numbers are summed over the batches. Defaults to None.

    Returns:
        dict with ``is_fully_integer``, ``float_ops``, ``num_samples``, and when data are given
        ``tflite_accuracy`` / ``keras_accuracy`` / ``accuracy_drop`` (with ``y``), ``max_abs_diff`` and
        ``mean_abs_diff`` of outputs, ``top1_agreement`` (share of equal argmax) (with ``keras_model``).

    Raises:
        ConversionError: the model does not load or run, or ``require_integer`` is True and an op or tensor fell
            back to float (the message names them).
        ShapeError: ``x`` does not fit the model, or ``x`` and ``y`` differ in length.
    """
    data = read_tflite(tflite)
    info = inspect_tflite(data)
    result = {"is_fully_integer": info["is_fully_integer"], "float_ops": info["float_ops"], "num_samples": 0}
    if require_integer and not info["is_fully_integer"]:
        compute = [op for op in info["float_ops"] if not op.startswith(("QUANTIZE", "DEQUANTIZE"))]
        named = (compute or info["float_ops"])[:5]
        raise ConversionError(f"the TFLite model is not fully integer: {len(info['float_ops'])} ops compute in "
                              f"float, e.g. {'; '.join(named)}. These ops have no integer kernel and fell back to "
                              "float; replace them (e.g. a different activation) or export as 'int8_float_io'/"
                              "'dynamic' and accept float compute.")
    if batches is None:
        if x is None:
            return result
        x = np.asarray(x)
        if y is not None and len(y) != len(x):
            raise ShapeError(f"verify_tflite: {len(x)} inputs but {len(y)} labels; they must match.")
        if len(x) == 0:
            raise ShapeError("predict_tflite received 0 samples.")
        step = PREDICT_BATCH
        batches = [(x[i:i + step], None if y is None else y[i:i + step]) for i in range(0, len(x), step)]
    return _compare(data, batches, keras_model, result, batch_size)


def _compare(data, batches, keras_model, result, batch_size=None):
    """``verify_tflite``'s numbers summed over ``(x, y)`` batches (``y`` None: no accuracy), one interpreter for
    all of them."""
    from tfcompress.data import sparse_labels
    from tfcompress.export.runtime import tflite_predictor

    predict = tflite_predictor(data, batch_size)
    n = hits = keras_hits = agree = 0
    labelled = True
    diff_max, diff_sum, diff_count, lo, hi = 0.0, 0.0, 0, np.inf, -np.inf
    for x, y in batches:
        outputs = predict(x)
        if keras_model is not None:
            expected = np.asarray(keras_model.predict_on_batch(x), dtype="float32")
            if expected.shape != outputs.shape:
                raise ShapeError(f"the Keras model outputs {expected.shape[1:]} per sample but the TFLite model "
                                 f"{outputs.shape[1:]}; is this the model the file was converted from?")
            expected = expected.reshape(len(x), -1)
        outputs = outputs.reshape(len(x), -1)
        n += len(x)
        labelled = labelled and y is not None
        labels = sparse_labels(y) if labelled else None
        if labelled:
            hits += int(np.sum(outputs.argmax(1) == labels))
        if keras_model is not None:
            diff = np.abs(expected - outputs)
            diff_max, diff_sum, diff_count = max(diff_max, float(diff.max())), diff_sum + float(diff.sum()), \
                diff_count + diff.size
            lo, hi = min(lo, float(expected.min())), max(hi, float(expected.max()))
            agree += int(np.sum(expected.argmax(1) == outputs.argmax(1)))
            if labelled:
                keras_hits += int(np.sum(expected.argmax(1) == labels))
    if not n:
        raise ShapeError("verify_tflite received no samples.")
    result["num_samples"] = n
    if labelled:
        result["tflite_accuracy"] = hits / n
    if keras_model is not None:
        result.update(max_abs_diff=diff_max, mean_abs_diff=diff_sum / diff_count, output_range=hi - lo,
                      top1_agreement=agree / n)
        if labelled:
            result["keras_accuracy"] = keras_hits / n
            result["accuracy_drop"] = result["keras_accuracy"] - result["tflite_accuracy"]
    return result
