"""Export: TFLite conversion, verification in the LiteRT interpreter, model card, C array for TFLite Micro."""

from tfcompress.export.converter import FORMATS, convert
from tfcompress.export.files import atomic_write, load_keras_model, read_tflite
from tfcompress.export.inspection import inspect_tflite, model_size
from tfcompress.export.runtime import evaluate_tflite, measure_latency, predict_tflite

__all__ = [
    "FORMATS",
    "convert",
    "atomic_write",
    "load_keras_model",
    "read_tflite",
    "inspect_tflite",
    "model_size",
    "evaluate_tflite",
    "measure_latency",
    "predict_tflite",
]
