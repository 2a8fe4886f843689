"""The one module that imports TensorFlow and Keras.

TFMOT works only with Keras 2, which TensorFlow 2.16+ ships separately as
``tf_keras``.  TensorFlow picks its Keras when it is first imported, reading
``TF_USE_LEGACY_KERAS``; so this module sets that variable before importing
TensorFlow, and refuses to go on if TensorFlow was already imported with
Keras 3 active.  Everything else in tfcompress imports ``tf`` and ``keras``
from here.
"""

import os
import sys

from tfcompress.errors import KerasFlavourError

_tf_already_imported = "tensorflow" in sys.modules
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfcompress.console import captured  # noqa: E402  (standard library only)

# TensorFlow's C++ start-up lines ("All log messages before absl::InitializeLog", no CUDA driver) say nothing
# about tfcompress; they are shown only if the import fails (or with TFCOMPRESS_VERBOSE=1).
with captured("importing TensorFlow", force=True):
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402

    tf.config.list_physical_devices()  # device start-up ("failed call to cuInit" without a GPU) happens here


def _tf_keras_is_legacy():
    try:
        return tf.keras.Model is keras.Model
    except Exception:  # pragma: no cover - a broken Keras install
        return False


if not _tf_keras_is_legacy():
    raise KerasFlavourError(
        "TensorFlow was imported before tfcompress with Keras 3 active, so tf.keras is Keras "
        "3 and TFMOT cannot work. Fix: import tfcompress "
        "before tensorflow (or set the environment variable TF_USE_LEGACY_KERAS=1 before "
        "Python starts), then build your models with tfcompress.keras (the tf_keras package)."
    )

__all__ = ["tf", "keras"]
