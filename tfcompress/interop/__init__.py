"""Bring Keras 3 models and files into tf_keras, which TFMOT needs."""

from tfcompress.interop.convert import SUPPORTED_LAYERS, is_tf_keras_model, to_tf_keras
from tfcompress.interop.load import ensure_tf_keras, load_model

__all__ = ["to_tf_keras", "load_model", "is_tf_keras_model", "ensure_tf_keras", "SUPPORTED_LAYERS"]
