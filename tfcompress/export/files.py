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


def load_keras_model(path, safe_mode=True):
    """Load a saved Keras model (``.keras``/``.h5``/SavedModel, tf_keras or Keras 3) without compiling it.

    See ``tfcompress.interop.load_model``.

    Raises:
        ModelError: the file is missing or cannot be read as a Keras model.
    """
    from tfcompress.interop import load_model

    if not os.path.exists(path):
        raise ModelError(f"model file {path!r} does not exist. Give a saved Keras model (.keras or .h5).")
    return load_model(path, safe_mode=safe_mode)
