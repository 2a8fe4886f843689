"""Bring Keras 3 models and files into tf_keras, which TFMOT needs, students back out to Keras 3, and any
teacher (custom layers, SavedModel signatures, .tflite files) in as a black box."""

from tfcompress.interop.convert import SUPPORTED_LAYERS, is_tf_keras_model, to_tf_keras
from tfcompress.interop.keras3 import to_keras3
from tfcompress.interop.load import ensure_tf_keras, load_model
from tfcompress.interop.teacher import custom_objects_from_module, load_teacher

__all__ = ["to_tf_keras", "to_keras3", "load_teacher", "custom_objects_from_module", "load_model", "is_tf_keras_model",
           "ensure_tf_keras", "SUPPORTED_LAYERS"]
