"""File helpers shared by the exporters: atomic writes, reading TFLite bytes, loading Keras files."""

import os

from tfcompress.errors import ConversionError, ModelError
from tfcompress.fileio import atomic_write  # noqa: F401  (re-exported)

TFLITE_IDENTIFIER = b"TFL3"


def read_tflite(tflite):
    """Return the bytes of a TFLite model given as bytes or a file path, checking the TFLite file identifier.

    Raises:
        ConversionError: the file is missing, unreadable, or not a TFLite flatbuffer.
    """
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


def load_keras_model(path):
    """Load a saved Keras model (``.keras``/``.h5``/SavedModel) without compiling it.

    Uses ``tfcompress.interop.load_model`` when that module exists (it also converts Keras 3 files), else
    ``keras.models.load_model(path, safe_mode=True, compile=False)``.

    Raises:
        ModelError: the file is missing or cannot be read as a Keras model.
    """
    if not os.path.exists(path):
        raise ModelError(f"model file {path!r} does not exist. Give a saved Keras model (.keras or .h5).")
    try:
        from tfcompress import interop  # written separately; optional
        loader = getattr(interop, "load_model", None)
    except ImportError:
        loader = None
    from tfcompress.errors import TFCompressError

    try:
        if loader is not None:
            return loader(path)
        from tfcompress._keras import keras

        return keras.models.load_model(path, safe_mode=True, compile=False)
    except TFCompressError:
        raise
    except Exception as exc:  # Keras raises many types (ValueError, OSError, KeyError, zipfile errors)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load {path!r} as a Keras model ({type(exc).__name__}: {first[:200]}). "
                         "Give a file written by model.save() with tf_keras (custom layers must be registered "
                         "with keras.utils.register_keras_serializable).") from None
