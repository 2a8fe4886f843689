"""tfcompress: turn a trained Keras model into a small, verified int8 TFLite file.

Importing tfcompress selects Keras 2 (``tf_keras``), which TFMOT needs; build
every model you hand to tfcompress with ``tfcompress.keras``.
"""

from tfcompress._keras import keras, tf  # noqa: F401  (must come first: selects tf_keras)
from tfcompress import errors
from tfcompress.data import load_digits_data, load_npz, make_tabular_data
from tfcompress.models import build_cnn, build_mlp

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "keras",
    "errors",
    "load_digits_data",
    "load_npz",
    "make_tabular_data",
    "build_cnn",
    "build_mlp",
]
