"""``Pipeline``: an ordered list of stages applied to a teacher and data, measured before and after each.

The same pipeline is written in Python, in a YAML recipe or on the command
line; ``get_config()`` is a valid recipe and ``from_config`` reads one.
"""

import os
import sys

from tfcompress.errors import ConfigError
from tfcompress.pipeline import registry
from tfcompress.pipeline.registry import stage_entry
from tfcompress.pipeline.recipe import TOP_LEVEL_KEYS, validate_recipe
from tfcompress.pipeline.guard import DEFAULT_TOLERANCE
from tfcompress.pipeline.devices import check_strategy, run_devices
from tfcompress.stage import NO_STUDENT, Stage, check_number, first_without_student


class Pipeline:
    """Stages applied in order to a model that starts as the student (if given) or the teacher.

    A ``search`` stage replaces the model with the student it found; distill stages need a student.

    Args:
        stages: ``Stage`` objects or recipe entries (``{"prune": {"sparsity": 0.5}}``), in order. An int8
            ``export`` stage is appended if there is none.
        teacher: the trained ``tf_keras`` model, or the path of a saved one.
        student: None, a model, a path, or a spec ``{"family": "cnn"|"mlp", ...}`` for ``build_cnn``/``build_mlp``.
            Defaults to None.
        data: the data: an ``.npz`` path or a dict of arrays, an image folder (``DIR/train/<class>/*``,
            ``DIR/val/...``), a TFRecord spec, or ``{"train": tf.data.Dataset, "val": ..., "test": ...}``
            (``tfcompress.datasets.open_data``); may instead be given to ``run``. Defaults to None.
        output: the output folder; may instead be given to ``run``. Defaults to None.
        seed: random seed of Python, NumPy and TensorFlow. Defaults to 0.
        batch_size: training batch size. Defaults to 64.
        learning_rate: peak learning rate of fine-tuning. Defaults to 1e-3.
        distill: default ``Distiller`` options of every stage that trains with the teacher. Defaults to None.
        latency_runs: timed interpreter runs per latency measurement (0 skips latency). Defaults to 200.
        budget: dict with ``max_bytes``, ``max_params`` or ``max_latency_us``. Without ``stages`` the
            default stages (``tfcompress.pipeline.defaults``) run under it; otherwise it is the budget of
            every ``search`` stage that gives none. Defaults to None.
        tolerance: largest drop of int8 validation accuracy a stage may cause before the run keeps the stage's
            input instead (``tfcompress.pipeline.guard``; at least one validation sample). Defaults to 0.005.
        strategy: None, ``"mirrored"`` or ``"multi_worker"`` (``tfcompress.pipeline.devices``; batch sizes are
            then per replica). Defaults to None.
        mixed_precision: train the stages under Keras's ``mixed_float16`` policy (needs a GPU). Defaults to False.

    Raises:
        ConfigError: an invalid stage, or a distill stage before any student exists.
    """

    def __init__(self, stages, teacher=None, student=None, data=None, output=None, seed=0, batch_size=64,
                 learning_rate=1e-3, distill=None, latency_runs=200, budget=None, tolerance=DEFAULT_TOLERANCE,
                 strategy=None, mixed_precision=False):
        if budget is not None:
            from tfcompress.search.budget import expand_budget

            budget = expand_budget(budget)  # a board preset becomes its flash and RAM bounds
        if not stages and budget is not None:
            from tfcompress.pipeline.defaults import default_stages

            stages = default_stages(budget)
        self.stages = [_as_stage(s) for s in stages]
        if budget is not None:
            for stage in self.stages:
                if stage.name == "search" and getattr(stage, "budget", None) is None:
                    stage.budget = dict(budget)
        if not any(s.name == "export" for s in self.stages):
            self.stages.append(registry.stage_class("export")())
        self.teacher = teacher
        self.student = student
        self.data = data
        self.output = output
        self.seed = seed
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.distill = distill
        self.latency_runs = latency_runs
        self.budget = budget
        self.tolerance = check_number("recipe", "tolerance", tolerance, low=0, high=1)
        self.strategy, self.mixed_precision = check_strategy(strategy), bool(mixed_precision)
        missing = first_without_student(self.stages, student is not None)
        if missing is not None:
            raise ConfigError(f"stage {missing + 1} ({self.stages[missing].name!r}) {NO_STUDENT}")

    # -- configuration ---------------------------------------------------------------------------
    def get_config(self):
        """The pipeline as a recipe dict (models and data given as objects rather than paths are left out)."""
        config = {}
        for key in ("teacher", "data", "output", "student"):
            value = getattr(self, key)
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            spec = isinstance(value, dict) and (key == "student" or {"folder", "tfrecord"} & set(value))
            if isinstance(value, str) or spec:  # a path, a student spec, an image folder or TFRecord spec
                config[key] = value
        config.update(seed=self.seed, batch_size=self.batch_size, learning_rate=self.learning_rate,
                      latency_runs=self.latency_runs, tolerance=self.tolerance)
        config.update({k: getattr(self, k) for k in ("strategy", "mixed_precision") if getattr(self, k)})
        if self.distill:
            config["distill"] = dict(self.distill)
        if self.budget is not None:
            config["budget"] = dict(self.budget)
        config["stages"] = [stage_entry(s) for s in self.stages]
        return config

    @classmethod
    def from_config(cls, config, stages=None):
        """Build a pipeline from a recipe dict (validated first; paths are used as given).

        Args:
            config: the recipe dict.
            stages: the stages ``validate_recipe`` already built from ``config`` (``run_recipe`` passes them, so
                a recipe file is parsed once and its stages built once); None validates ``config`` here.
        """
        if stages is None:
            stages = [stage for _, stage, _ in validate_recipe(config, require_paths=False)]
        kwargs = {k: v for k, v in config.items() if k in TOP_LEVEL_KEYS and k != "stages"}
        return cls(stages=list(stages), **kwargs)

    def __repr__(self):
        return f"Pipeline({[stage_entry(s) for s in self.stages]!r})"

    # -- running -----------------------------------------------------------------------------------
    def run(self, data=None, output_dir=None, verbose=1, unsafe_load=False, log=None, custom_objects=None,
            strategy=None, mixed_precision=None):
        """Run every stage (resuming a killed run of the same recipe) and write model, card and report.

        Args:
            data: the data (see ``Pipeline``); defaults to the pipeline's ``data``.
            output_dir: the output folder; defaults to the pipeline's ``output``.
            verbose: 0 silent, 1 tfcompress's progress lines (stage, epoch or trial, time left), 2 also Keras's
                and KerasTuner's own output. Defaults to 1.
            unsafe_load: allow Lambda layers when loading model files. Defaults to False.
            log: function taking one line of progress; defaults to printing to stdout when verbose.
            custom_objects: the Keras classes of your code by name, for a Keras 3 teacher file with custom
                layers (such a teacher runs as a black box, see ``tfcompress.interop.load_teacher``).
                Defaults to None.
            strategy, mixed_precision: override the pipeline's (None keeps them). Defaults to None.

        Returns:
            The report dict (also written to ``<output>/report.json`` and ``report.md``).
        """
        from tfcompress.pipeline.runner import run_pipeline

        data = self.data if data is None else data
        output_dir = self.output if output_dir is None else output_dir
        if data is None or output_dir is None:
            raise ConfigError("Pipeline.run needs data (an .npz path, an image folder, a dict) and an output folder; "
                              "give them to run() or to the Pipeline.")
        if log is None:
            log = _printer if verbose else (lambda line: None)
        strategy = self.strategy if strategy is None else check_strategy(strategy)
        mixed = self.mixed_precision if mixed_precision is None else mixed_precision
        with run_devices(os.fspath(output_dir), strategy, mixed, self.batch_size) as (devices, output_dir):
            return run_pipeline(self, data, output_dir, verbose=verbose, unsafe_load=unsafe_load, log=log,
                                custom_objects=custom_objects, devices=devices)


def _as_stage(entry):
    if isinstance(entry, Stage):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        (key, options), = entry.items()
        name = registry.canonical_name(str(key))
        if name is None:
            validate_recipe({"stages": [entry]}, require_paths=False)  # raises with a spelling hint
        options = registry.normalize_options(name, options or {})
        cls = registry.stage_class(name, options.get("method"))
        if "method" not in _params(cls):
            options.pop("method", None)
        return cls.from_config(options)
    raise ConfigError(f"a pipeline stage must be a Stage object or a one-key dict such as "
                      f"{{'prune': {{'sparsity': 0.5}}}}; received {entry!r}.")


def _params(cls):
    import inspect

    return [n for n in inspect.signature(cls.__init__).parameters if n != "self"]


def _printer(line):
    print(line, file=sys.stdout, flush=True)


__all__ = ["Pipeline", "stage_entry", "run_recipe"]


def run_recipe(path, verbose=1, unsafe_load=False, log=None, custom_objects=None, strategy=None,
               mixed_precision=None):
    """Read, validate and run a YAML recipe file (what ``tfcompress run RECIPE.yaml`` does).

    Args:
        path: the recipe file; relative paths inside it are relative to its folder.
        verbose: 0 silent, 1 tfcompress's progress lines, 2 also Keras's and KerasTuner's output. Defaults to 1.
        unsafe_load: allow Lambda layers when loading model files. Defaults to False.
        log: function taking one line of progress. Defaults to printing when verbose.
        custom_objects: Keras classes by name for custom layers of the teacher. Defaults to None.
        strategy, mixed_precision: override the recipe's (``--strategy``, ``--mixed-precision``). Defaults to None.

    Returns:
        The report dict.
    """
    from tfcompress.pipeline.recipe import read_recipe_stages

    recipe, stages = read_recipe_stages(path)
    pipeline = Pipeline.from_config(recipe, stages=stages)
    return pipeline.run(verbose=verbose, unsafe_load=unsafe_load, log=log, custom_objects=custom_objects,
                        strategy=strategy, mixed_precision=mixed_precision)
