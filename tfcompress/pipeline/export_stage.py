"""The ``export`` stage: write the model that reached it as a verified ``.tflite`` file with its card.

It does not change the model. The file goes to the stage's work folder
(``trainer.workdir``); the pipeline copies the last export to
``<output>/model.tflite`` and ``<output>/model.json``.
"""

import os
import tempfile

import numpy as np

from tfcompress.errors import ConfigError
from tfcompress.export import FORMATS
from tfcompress.pipeline.files import write_bytes, write_json
from tfcompress.pipeline.report import versions
from tfcompress.stage import Stage, register_stage


@register_stage
class ExportStage(Stage):
    """Convert to TFLite, verify in the LiteRT interpreter and write a model card.

    Args:
        format: ``"int8"`` (full integer, int8 I/O), ``"int8_float_io"``, ``"float16"``, ``"dynamic"`` or
            ``"float"`` (see ``tfcompress.export.convert``). Defaults to "int8".
        c_array: also write a C source file for TFLite Micro. Defaults to False.
        num_samples: representative training samples used to calibrate int8. Defaults to 300.
    """

    name = "export"

    def __init__(self, format="int8", c_array=False, num_samples=300):  # noqa: A002 (recipe key)
        if format not in FORMATS:
            raise ConfigError(f"export format {format!r} is not one of {', '.join(FORMATS)}.")
        if not isinstance(c_array, bool):
            raise ConfigError(f"export c_array must be true or false, received {c_array!r}.")
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
            raise ConfigError(f"export num_samples must be a positive integer, received {num_samples!r}.")
        self.format = format
        self.c_array = c_array
        self.num_samples = num_samples
        self.stage_configs = []  # set by the pipeline: the configs of the stages that made the model

    def apply(self, model, trainer):
        """Write ``model.tflite`` (+ card ``model.json``) into ``trainer.workdir``; return ``model`` unchanged."""
        workdir = trainer.workdir or tempfile.mkdtemp(prefix="tfcompress-export-")
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, "model.tflite")
        card_path = os.path.splitext(path)[0] + ".json"
        data = trainer.data
        split = "test" if "x_test" in data else "val"
        rep = np.asarray(data["x_train"])[: self.num_samples]
        eval_data = (data[f"x_{split}"], data[f"y_{split}"])
        try:
            from tfcompress.export import export_tflite
        except ImportError:
            export_tflite = None
        if export_tflite is not None:
            kwargs = {"c_array": True} if self.c_array else {}
            card = export_tflite(model, path, format=self.format, representative_data=rep, eval_data=eval_data,
                                 stages=list(self.stage_configs), **kwargs)
        else:
            card = self._export_plain(model, path, rep, eval_data)
        if not os.path.exists(card_path):
            write_json(card_path, card)
        self._report = {"path": path, "card_path": card_path, "format": self.format,
                        "tflite_bytes": os.path.getsize(path), "card": card}
        return model

    def _export_plain(self, model, path, rep, eval_data):
        """Convert, write and verify without ``export_tflite`` (a smaller card, no C array)."""
        from tfcompress.export import convert, evaluate_tflite

        if self.c_array:
            raise ConfigError("c_array needs tfcompress.export.export_tflite, which this install lacks.")
        flat = convert(model, format=self.format, representative_data=rep, num_samples=self.num_samples)
        write_bytes(path, flat)
        return {"file": os.path.basename(path), "format": self.format, "tflite_bytes": len(flat),
                "accuracy": float(evaluate_tflite(flat, *eval_data)), "eval_samples": int(len(eval_data[1])),
                "stages": list(self.stage_configs), "versions": versions()}


__all__ = ["ExportStage"]
