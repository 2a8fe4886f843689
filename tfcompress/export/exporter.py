"""``export_tflite``: convert, verify, write the file atomically, write its model card (and a C array)."""

import json
import os

import numpy as np

from tfcompress.data import calibration_rows
from tfcompress.errors import ConfigError, ConversionError
from tfcompress.export.c_array import write_c_array
from tfcompress.export.card import build_model_card
from tfcompress.export.converter import FORMATS, INTEGER_FORMATS, _strip_pruning, convert
from tfcompress.fileio import atomic_write, read_tflite
from tfcompress.export.inspection import inspect_tflite, keras_sparsity

#: With a streamed ``eval_data`` (an image folder's split): the samples TFLite Micro runs (its interpreter is
#: slow; the LiteRT check reads the whole split) and the validation samples mixed precision is chosen on.
TFLM_STREAM_SAMPLES = 512
MIXED_SELECTION_SAMPLES = 2000
from tfcompress.export.runtime import measure_latency
from tfcompress.export.tflm import DEFAULT_MARGIN, check_margin, check_tflm
from tfcompress.export.verify import verify_tflite


# The formats export_tflite writes: the converter's, and "mixed" (int8/int16 activations per op, chosen by
# sensitivity with litert-quantizer from the float conversion; tfcompress.export.mixed).
MIXED = "mixed"
EXPORT_FORMATS = FORMATS + (MIXED,)


def card_path_for(path):
    """The model card path of a ``.tflite`` path: the same path with a ``.json`` suffix."""
    return os.path.splitext(path)[0] + ".json"


def export_tflite(model, path, format="int8", representative_data=None, eval_data=None, stages=None,
                  num_samples=300, latency_runs=200, c_array=False, tflm=False, tflm_margin=DEFAULT_MARGIN,
                  tolerance=0.005, weight_bits=8, selection_data=None):
    """Convert a Keras model, verify the result, and write ``PATH`` plus its model card ``PATH.json``.

    Steps: ``convert``; ``verify_tflite`` (load and run in LiteRT; for the int8 formats the model must be fully
    integer, else ConversionError and nothing is written); with ``tflm``, ``check_tflm`` (the model runs in
    TensorFlow Lite Micro, its arena measured, its outputs compared with LiteRT's; an op TFLM lacks raises
    ConversionError and nothing is written); write the file atomically; measure latency; write the model card
    atomically; optionally the C array ``PATH_stem.cc``/``.h`` with the variable ``g_model``.

    Args:
        model: a tf_keras model.
        path: output ``.tflite`` path (its folder is created if missing).
        format: see ``convert``, or "mixed": int8 or int16 activations per op, the fewest ops at int16 that keep
            the accuracy on ``eval_data`` within ``tolerance`` of all-int16x8 (``tfcompress.export.mixed``;
            needs ``representative_data`` and ``eval_data``; the choice and the per-op sensitivity table go to
            ``card["mixed_precision"]``). Defaults to "int8".
        representative_data: real inputs for int8 calibration. Defaults to None.
        eval_data: ``(x, y)`` to measure Keras and TFLite accuracy, or a ``tfcompress.datasets`` split, read
            batch by batch. Defaults to None.
        stages: stage configs (or Stage objects) that produced the model, recorded as provenance. Defaults to None.
        num_samples: representative samples used. Defaults to 300.
        latency_runs: timed inferences (0 skips latency). Defaults to 200.
        c_array: also write the C array files (with ``tflm``, the header's arena is the measured one plus
            ``tflm_margin``). Defaults to False.
        tflm: check the model in TensorFlow Lite Micro on the ``eval_data`` inputs (else the representative
            data) and add ``card["tflm"]`` (see ``check_tflm``). Defaults to False.
        tflm_margin: fraction added to the measured arena for the C header, rounded up to 16 bytes. Defaults to
            0.10.
        tolerance: "mixed" only: the largest accepted accuracy drop below all-int16x8. Defaults to 0.005.
        weight_bits: "mixed" only: 4 also tries int4 weights per CONV_2D/FULLY_CONNECTED op (LiteRT runs them,
            TFLite Micro does not). Defaults to 8.
        selection_data: "mixed" only: ``(x, y)`` the precision of each op is chosen on, e.g. the validation split
            when ``eval_data`` is the test split (choosing on test data would overstate the accuracy). Defaults
            to ``eval_data``.

    Returns:
        The model card (dict); it also holds ``paths`` of the files written.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ConfigError(f"path must be a file path such as 'out/model.tflite', received {path!r}.")
    path = os.fspath(path)
    streamed = hasattr(eval_data, "numpy_batches")  # a tfcompress.datasets Split, read batch by batch
    if eval_data is not None and not streamed and (not isinstance(eval_data, (tuple, list)) or len(eval_data) != 2):
        raise ConfigError("eval_data must be a pair (x, y) of inputs and labels, e.g. (x_test, y_test).")
    if not isinstance(tflm, bool):
        raise ConfigError(f"tflm must be True or False, received {tflm!r}.")
    check_margin(tflm_margin)
    mixed_report = None
    if format == MIXED:
        from tfcompress.export.mixed import mixed_precision

        if representative_data is None or eval_data is None:
            raise ConfigError("format 'mixed' needs representative_data (real training inputs to calibrate) and "
                              "eval_data (x_val, y_val) to choose the precision of each op on.")
        chosen_on = selection_data if selection_data is not None else eval_data
        if hasattr(chosen_on, "numpy_batches"):  # a streamed split: the precision is chosen on its first samples
            chosen_on = chosen_on.head(MIXED_SELECTION_SAMPLES)
        data, mixed_report = mixed_precision(model, _calibration_array(representative_data, num_samples),
                                             chosen_on,
                                             tolerance=tolerance, weight_bits=weight_bits, num_samples=num_samples)
    else:
        data = convert(model, format=format, representative_data=representative_data, num_samples=num_samples)
    x, y = (eval_data if eval_data is not None and not streamed else (None, None))
    verification = verify_tflite(data, x=x, y=y, keras_model=model if eval_data is not None else None,
                                 require_integer=format in INTEGER_FORMATS or format == MIXED,
                                 batches=eval_data.numpy_batches() if streamed else None)
    tflm_result = None
    if tflm:
        samples = x if x is not None else (eval_data.head(TFLM_STREAM_SAMPLES)[0] if streamed else
                                           _calibration_array(representative_data, num_samples))
        tflm_result = check_tflm(data, x=samples, margin=tflm_margin)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    atomic_write(path, data)
    if read_tflite(path) != data:  # what landed on disk is what was verified
        raise ConversionError(f"{path!r} does not hold the bytes just written; is another process writing it?")
    latency = measure_latency(data, runs=latency_runs) if latency_runs else None
    model = _strip_pruning(model)
    keras_info = {"name": model.name, "params": int(model.count_params()), "sparsity": keras_sparsity(model)}
    card = build_model_card(data, inspect_tflite(data), format, verification=verification, latency=latency,
                            stages=stages, keras_info=keras_info, file_name=os.path.basename(path))
    if tflm_result is not None:
        card["tflm"] = tflm_result
    if mixed_report is not None:
        card["mixed_precision"] = mixed_report
    paths = {"tflite": path, "card": card_path_for(path)}
    if c_array:
        arena = note = None
        if tflm_result is not None:
            arena = tflm_result["arena_with_margin_bytes"]
            note = (f"{tflm_result['arena_bytes']} bytes measured in {tflm_result['runtime']} (host build) + "
                    f"{tflm_margin:.0%} margin, rounded up to 16 bytes")
        cc_path, h_path = write_c_array(data, os.path.splitext(path)[0], var_name="g_model", arena_bytes=arena,
                                        arena_note=note)
        paths.update(c_source=cc_path, c_header=h_path)
    card["paths"] = paths
    atomic_write(paths["card"], json.dumps(card, indent=2, default=_json_default) + "\n")
    return card


def _calibration_array(representative_data, num_samples):
    """The representative inputs that calibrate a conversion (one array; ``calibration_rows`` of it, as
    ``convert`` takes them), or None when there are none."""
    if representative_data is None:
        return None
    if isinstance(representative_data, (list, tuple)):  # one array per input: check_tflm refuses these models
        representative_data = representative_data[0]
    if not isinstance(representative_data, np.ndarray):  # a tf.data.Dataset: its first batches, as convert reads it
        from tfcompress.export.converter import _from_dataset

        representative_data = _from_dataset(representative_data, num_samples)
    x = np.asarray(representative_data)
    return x[calibration_rows(len(x), num_samples)]


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
