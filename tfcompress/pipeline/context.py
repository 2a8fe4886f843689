"""The run context: what every stage of one run shares, built once and handed to each stage.

A ``RunContext`` holds the teacher, the data, the seed and training defaults, the caches (the teacher's outputs
on the fixed splits, ``distill.cache.TeacherCache``; the converted files, ``export.cache.ConversionCache``, so
each distinct model is converted once per format) and the provenance of the stages done so far. Every int8
conversion of the run calibrates on the same seeded subset of the training inputs
(``tfcompress.data.calibration_inputs``), which is what lets the export reuse the file that measured the last
stage. Stages reach it through
``trainer.context``; the runner (``pipeline/runner.py``) asks each stage through the ``Stage`` protocol
(``measure``, ``restore``, ``finish``) and knows none by name.
"""

import os

from tfcompress.distill.cache import TeacherCache
from tfcompress.export.cache import ConversionCache
from tfcompress.pipeline.devices import Devices


class RunContext:
    """The shared state of one pipeline run (see the module docstring).

    Args:
        teacher: the loaded teacher (a ``tf_keras`` model, or a black-box ``TeacherOutputs`` wrapper).
        data: the checked ``tfcompress.datasets.DataSource`` (bound to the teacher's input).
        output_dir: the run's output folder.
        seed: the run's seed (stage ``i`` trains with ``seed + i``).
        batch_size, learning_rate, distill_options: the training defaults of every stage's ``Trainer``.
        latency_runs: timed interpreter runs per measurement (0 skips latency).
        verbose: 0, 1 or 2 (see ``Pipeline.run``).
        log: function taking one progress line.
        black_box: the black-box description of the teacher (``interop.blackbox``), or None.
    """

    def __init__(self, teacher, data, output_dir, seed=0, batch_size=64, learning_rate=1e-3, distill_options=None,
                 latency_runs=200, verbose=1, log=print, black_box=None):
        self.teacher = teacher
        self.data = data
        self.output_dir = output_dir
        self.seed = int(seed)
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.distill_options = dict(distill_options or {})
        self.latency_runs = latency_runs
        self.verbose = verbose
        self.log = log
        self.black_box = black_box
        # the teacher's logits on streamed splits go to <output>/cache (memory-mapped; a resumed run reads them)
        self.teacher_cache = TeacherCache(teacher, directory=os.path.join(output_dir, "cache"))
        self.conversions = ConversionCache()
        self.teacher_metrics = None
        self.records = []  # provenance: the recipe entry {name: config} of each stage done, in order
        self.devices = Devices()  # the run's strategy and precision (pipeline/devices.py); the runner sets it

    def workdir(self, index, stage):
        """The work folder of stage ``index`` (0-based): ``<output>/stage_<index + 1>_<name>``."""
        return os.path.join(self.output_dir, f"stage_{index + 1}_{stage.name}")

    def trainer(self, index, count, stage, workdir):
        """The ``Trainer`` of stage ``index`` of ``count``: the run's teacher, data, defaults and caches."""
        from tfcompress.stage import stage_label
        from tfcompress.train import Trainer

        trainer = Trainer(self.data, teacher=self.teacher, batch_size=self.batch_size,
                          learning_rate=self.learning_rate, distill_options=self.distill_options,
                          verbose=2 if self.verbose >= 2 else 0, workdir=workdir, teacher_cache=self.teacher_cache,
                          progress=self.log if self.verbose else None, context=self)
        trainer.stage = f"stage {index + 1} ({stage_label(stage)})"
        trainer.label = f"[{index + 1}/{count}] {stage_label(stage)}"
        return self.devices.adapt(trainer)  # batch sizes are per replica

    def measure(self, model, fmt="int8"):
        """``model`` measured as a ``.tflite`` file (``pipeline.measure.measure_model``) with the run's settings."""
        from tfcompress.pipeline.measure import measure_model

        return measure_model(model, self.data, fmt, latency_runs=self.latency_runs)

    def record(self, entry):
        """Add a finished stage, as its recipe entry ``{name: config}``, to the provenance."""
        self.records.append(entry)

__all__ = ["RunContext"]
