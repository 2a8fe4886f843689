"""The run's float student handed back in Keras 3 (``student_keras3.keras``), for users whose code is Keras 3.

The student is the model of the last finished stage that holds no TFMOT wrapper (a QAT model cannot be carried;
the float model before it can). It is rebuilt with ``tfcompress.to_keras3`` (checked on validation inputs), scored
on the same split as the report, and saved atomically. A model that cannot be carried is reported, not fatal:
the .tflite file and its card are written before it.
"""

import os

import numpy as np

from tfcompress.errors import ModelError
from tfcompress.fileio import save_model

FILENAME = "student_keras3.keras"


def _accuracy(predict, split, batch=256):
    from tfcompress.data import sparse_labels

    hits = 0
    for x, y in split.numpy_batches(batch):
        hits += int(np.sum(np.argmax(np.asarray(predict(x)), axis=-1) == sparse_labels(y)))
    return hits / max(1, split.size)


def last_float_entry(finished):
    """The last finished stage entry whose saved model has no TFMOT wrapper (saved as ``.keras``), or None."""
    for entry in reversed(finished):
        if str(entry.get("model", "")).endswith(".keras"):
            return entry
    return None


def write_keras3_student(finished, data, output_dir, load):
    """Write the last float student as ``output_dir/student_keras3.keras``; return what the report lists.

    Args:
        finished: ``RunState.finished`` (stage entries with the saved ``model`` path).
        data: the run's data (a dict of arrays or a ``DataSource``).
        output_dir: the run's output folder.
        load: function loading a saved stage model as tf_keras.

    Returns:
        ``{"file", "stage", "split", "accuracy", "tf_keras_accuracy"}``, ``{"error": message}`` when the
        model cannot be carried, or None when no stage left a float model.
    """
    entry = last_float_entry(finished)
    if entry is None:
        return None
    from tfcompress.datasets import as_source
    from tfcompress.interop import to_keras3

    model = load(entry["model"])
    source = as_source(data)
    split = source.eval_name
    held_out = source.split(split)
    try:
        k3 = to_keras3(model, sample_inputs=np.asarray(source.split("val").head(8)[0], dtype="float32"), atol=1e-4)
    except ModelError as exc:
        return {"stage": entry["index"] + 1, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - an optional extra file must not fail a finished run
        return {"stage": entry["index"] + 1, "error": f"Keras 3 could not rebuild the model ({type(exc).__name__}: "
                                                      f"{str(exc).splitlines()[0] if str(exc) else ''})"}
    path = os.path.join(output_dir, FILENAME)
    save_model(k3, path)
    return {"file": FILENAME, "stage": entry["index"] + 1, "split": split,
            "accuracy": _accuracy(lambda b: k3(b, training=False), held_out),
            "tf_keras_accuracy": _accuracy(lambda b: model(b, training=False), held_out)}


__all__ = ["write_keras3_student", "last_float_entry", "FILENAME"]
