"""Export: TFLite conversion, verification in LiteRT (and TFLite Micro), model card, C array for TFLite Micro.

Typical use::

    from tfcompress.export import export_tflite, evaluate_tflite, inspect_tflite

    card = export_tflite(model, "out/model.tflite", format="int8", representative_data=x_train[:300],
                         eval_data=(x_test, y_test), c_array=True, tflm=True)
    # out/model.tflite, out/model.json (this card), out/model.cc + out/model.h (arena measured in TFLite Micro)
    card["tflm"]["arena_bytes"], card["tflm"]["argmax_agreement"]
    card["accuracy"]["drop"], card["latency"]["median_us"], card["is_fully_integer"]
    inspect_tflite("out/model.tflite")["ops"]

    # int8 or int16 activations per op (litert-quantizer), the fewest int16 ops within 0.5 pt of all-int16x8
    card = export_tflite(model, "out/mixed.tflite", format="mixed", representative_data=x_train[:300],
                         eval_data=(x_test, y_test), selection_data=(x_val, y_val), tolerance=0.005)
    card["mixed_precision"]["sensitivity"], card["mixed_precision"]["precision"]

Latency is measured on this host's CPU with the LiteRT interpreter (XNNPACK by default): a proxy for a phone.
"""

from tfcompress.export.c_array import write_c_array
from tfcompress.export.cache import ConversionCache, conversion_cache
from tfcompress.export.converter import FORMATS, convert
from tfcompress.export.exporter import export_tflite
from tfcompress.fileio import atomic_write, read_tflite
from tfcompress.fileio import load_model as load_keras_model  # the one model loader, under its export name
from tfcompress.export.inspection import inspect_tflite, model_size
from tfcompress.export.mixed import layer_sensitivity, mixed_precision
from tfcompress.export.runtime import evaluate_tflite, measure_latency, predict_tflite
from tfcompress.export.tflm import check_tflm, predict_tflm
from tfcompress.export.verify import verify_tflite

__all__ = [
    "FORMATS",
    "convert",
    "ConversionCache",
    "conversion_cache",
    "export_tflite",
    "verify_tflite",
    "check_tflm",
    "predict_tflm",
    "layer_sensitivity",
    "mixed_precision",
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
