"""The ``export`` stage: write the model that reached it as a verified ``.tflite`` file with its card.

It does not change the model. The file goes to the stage's work folder
(``trainer.workdir``); the pipeline copies the last export to
``<output>/model.tflite`` and ``<output>/model.json``.
"""

import os
import tempfile


from tfcompress.data import calibration_inputs
from tfcompress.errors import ConfigError
from tfcompress.export import export_tflite
from tfcompress.export.exporter import EXPORT_FORMATS
from tfcompress.fileio import copy_file
from tfcompress.pipeline.measure import from_card, measure_file
from tfcompress.stage import Stage, check_flag, check_number, register_stage

FILE = "model.tflite"


@register_stage
class ExportStage(Stage):
    """Convert to TFLite, verify in the LiteRT interpreter and write a model card (``export_tflite``).

    Args:
        format: ``"int8"`` (full integer, int8 I/O), ``"int8_float_io"``, ``"int16x8"`` (int16 activations and
            I/O, int8 weights), ``"float16"``, ``"dynamic"``, ``"float"`` (see ``tfcompress.export.convert``) or
            ``"mixed"`` (int8/int16 activations per op by sensitivity, see ``tfcompress.export.mixed``).
            Defaults to "int8".
        c_array: also write a C source file for TFLite Micro. Defaults to False.
        tflm: check the file in TFLite Micro (ops, measured arena, outputs against LiteRT) and add
            ``card["tflm"]``; see ``tfcompress.export.check_tflm``. Defaults to False.
        num_samples: representative training samples used to calibrate int8. Defaults to 300.
        tolerance: ``"mixed"`` only: the largest accepted accuracy drop below all-int16x8, on the validation
            split (the evaluation split when there is none). Defaults to 0.005.
    """

    name = "export"
    judged = False  # it converts the model; its file is measured as the run's result
    needs_training_data = False  # int8 calibrates on x_val when there is no x_train

    def __init__(self, format="int8", c_array=False, num_samples=300, tflm=False,  # noqa: A002 (recipe key)
                 tolerance=0.005):
        if format not in EXPORT_FORMATS:
            raise ConfigError(f"export format {format!r} is not one of {', '.join(EXPORT_FORMATS)}.")
        if not isinstance(c_array, bool):
            raise ConfigError(f"export c_array must be true or false, received {c_array!r}.")
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
            raise ConfigError(f"export num_samples must be a positive integer, received {num_samples!r}.")
        self.format = format
        self.c_array = c_array
        self.num_samples = num_samples
        self.tflm = check_flag(self, "tflm", tflm)
        self.tolerance = check_number(self, "tolerance", tolerance, 0, 1, high_open=True)

    def apply(self, model, trainer):
        """Write ``model.tflite`` (+ card ``model.json``) into ``trainer.workdir``; return ``model`` unchanged.

        In a pipeline run (``trainer.context``, a ``RunContext``) the card records the stages before this one
        (their recipe entries), and the latency is timed with the run's ``latency_runs``.
        """
        context = getattr(trainer, "context", None)
        workdir = trainer.workdir or tempfile.mkdtemp(prefix="tfcompress-export-")
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, FILE)
        source = trainer.source
        rep = calibration_inputs(source, self.num_samples)
        held_out = source.split(source.eval_name)
        eval_data = held_out if held_out.streamed else (held_out.x, held_out.y)
        val = source.split("val")
        card = export_tflite(model, path, format=self.format, representative_data=rep, eval_data=eval_data,
                             stages=list(context.records) if context is not None else [],
                             num_samples=self.num_samples,
                             latency_runs=context.latency_runs if context is not None else 200, c_array=self.c_array,
                             tflm=self.tflm, tolerance=self.tolerance,
                             selection_data=val if val.streamed else (val.x, val.y))
        self._report = {"paths": card.get("paths", {"tflite": path}), "format": self.format,
                        "tflite_bytes": os.path.getsize(path), "card": card}
        return model

    def measure(self, model, context, workdir):
        """The written file as measured by the export (its card), else measured again from the file."""
        card = self.report.get("card") or {}
        params = int(model.count_params())
        return from_card(card, context.data, fmt=self.format, params=params) or \
            measure_file(os.path.join(workdir, FILE), context.data, fmt=self.format, params=params,
                         latency_runs=context.latency_runs)

    def finish(self, context, workdir):
        """Copy the file, its card and any C array to the run's output folder (the last export's copies stay)."""
        for name in (FILE, "model.json", "model.cc", "model.h"):
            if os.path.exists(os.path.join(workdir, name)):
                copy_file(os.path.join(workdir, name), os.path.join(context.output_dir, name))


__all__ = ["ExportStage"]
