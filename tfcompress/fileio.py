"""Files in and out, in one place: atomic writes (bytes, text, JSON, copies, models, figures) and model loading.

Every output is written to a temporary file in the target's folder, then moved over it with ``os.replace``: a
crash or a kill never leaves a half-written model, report or state file that looks valid; readers see either the
old file or the whole new one. ``load_model`` reads any Keras model file as ``tf_keras``, ``read_tflite`` a
``.tflite`` file (checked).
"""

import contextlib
import json
import os
import shutil
import tempfile

#: The file identifier of a TFLite flatbuffer (bytes 4-8).
TFLITE_IDENTIFIER = b"TFL3"


def _read_umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


# Read once at import: os.umask is process-wide, so toggling it later could race with other threads.
_UMASK = _read_umask()


def _file_mode(path):
    """Mode for a new file at ``path``: the existing file's mode, else 0666 minus the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary file path beside ``path``; when the block succeeds it replaces ``path``.

    Use it for writers that want a path (``model.save``, ``fig.savefig``, ``np.savez``); ``suffix`` keeps the
    extension those writers look at (e.g. ``".keras"``).  If the block raises, the temporary file is removed
    and ``path`` is left as it was.

    Args:
        path: the final file path; its folder is created if needed.
        suffix: extension of the temporary file. Defaults to "".
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600 files; give the usual mode instead
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write(path, data):
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` atomically, flushed to disk; return ``path``."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    atomic_write(path, data)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, text.encode("utf-8"))


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically (NumPy values as Python numbers and lists)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=json_default) + "\n")


def jsonable(obj):
    """``obj`` as plain JSON data (what ``write_json`` would write, read back)."""
    return json.loads(json.dumps(obj, default=json_default))


def copy_file(src, dst):
    """Copy ``src`` to ``dst`` atomically."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def save_model(model, path):
    """``model.save(path)`` atomically (the suffix of ``path`` chooses the format, e.g. ``.keras``)."""
    with atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
        model.save(tmp)


def save_figure(fig, path):
    """Save a matplotlib figure to ``path`` (PNG) atomically."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def load_model(path, safe_mode=True):
    """Load a saved Keras model (``.keras``, ``.h5`` or a SavedModel folder; tf_keras with TFMOT wrappers, or
    Keras 3, converted) as an uncompiled ``tf_keras`` model: ``tfcompress.interop.load_model``.

    Args:
        path: the model file or folder.
        safe_mode: refuse to run code stored in the file (``Lambda`` layers). Defaults to True.

    Raises:
        ModelError: the file is missing or cannot be read as a Keras model.
    """
    from tfcompress.interop import load_model as interop_load

    return interop_load(path, safe_mode=safe_mode)


def read_tflite(tflite):
    """Return the bytes of a TFLite model given as bytes or a file path, checking the TFLite file identifier.

    Raises:
        ConversionError: the file is missing, unreadable, or not a TFLite flatbuffer.
    """
    from tfcompress.errors import ConversionError

    if isinstance(tflite, (bytes, bytearray, memoryview)):
        data, source = bytes(tflite), "the given bytes"
    elif isinstance(tflite, (str, os.PathLike)):
        source = repr(os.fspath(tflite))
        try:
            with open(tflite, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ConversionError(f"cannot read TFLite file {source}: {exc.strerror or exc}. "
                                  "Give the path of an existing .tflite file.") from None
    else:
        raise ConversionError(f"expected TFLite model bytes or a .tflite path, received {type(tflite).__name__}.")
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ConversionError(f"{source} is not a TFLite model (expected the flatbuffer identifier 'TFL3' at byte 4, "
                              f"got {data[4:8]!r}, {len(data)} bytes). Was the file truncated or is it another "
                              "format (.keras, .h5)? Re-export it with tfcompress export.")
    return data


def json_default(obj):
    """``json.dumps`` fallback: NumPy scalars and arrays as Python values, sets and tuples as lists, else ``str``."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


__all__ = ["atomic_path", "atomic_write", "write_bytes", "write_text", "write_json", "jsonable", "copy_file",
           "save_model", "save_figure", "load_model", "read_tflite", "json_default", "TFLITE_IDENTIFIER"]
