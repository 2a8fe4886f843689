"""Export: TFLite conversion, verification in the LiteRT interpreter, model card, C array for TFLite Micro."""

from tfcompress.export.c_array import write_c_array
from tfcompress.export.converter import FORMATS, convert
from tfcompress.export.exporter import export_tflite
from tfcompress.export.files import atomic_write, load_keras_model, read_tflite
from tfcompress.export.inspection import inspect_tflite, model_size
from tfcompress.export.runtime import evaluate_tflite, measure_latency, predict_tflite
from tfcompress.export.verify import verify_tflite

__all__ = [
    "FORMATS",
    "convert",
    "export_tflite",
    "verify_tflite",
    "evaluate_tflite",
    "predict_tflite",
    "measure_latency",
    "inspect_tflite",
    "model_size",
    "write_c_array",
    "atomic_write",
    "load_keras_model",
    "read_tflite",
]
