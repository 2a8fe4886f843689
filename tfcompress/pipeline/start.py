"""The start of a run: output folder, data and teacher loaded and checked, the teacher measured, the first model.

Everything here is checked before any stage trains (``pipeline/runner.py`` calls it in this order).
"""

import os
import re
import shutil

from tfcompress.errors import ConfigError, ModelError
from tfcompress.pipeline.measure import measure_file, measure_model
from tfcompress.fileio import load_model


def prepare_output(output_dir):
    """Check the output folder and delete temporary files a killed run left in it."""
    from tfcompress.guards import check_output_dir

    check_output_dir(output_dir)
    remove_stale_tmp(output_dir)


def read_data(data, stages):
    """The run's ``DataSource`` (``tfcompress.datasets.open_data``: an ``.npz`` is loaded, an image folder or
    TFRecord files are checked and streamed later), checked; training data are required when a stage trains."""
    from tfcompress.datasets import open_data

    source = open_data(data)
    needs_train = [s for s in stages if s.needs_training_data]
    if needs_train and "train" not in source:
        raise ConfigError(f"stage {needs_train[0].name!r} trains on x_train/y_train (or a train/ folder), "
                          "which the data lack; give them, or use only stages that need no training data (distill: "
                          "{data_free: true}, quantize: {method: ptq}, export).")
    return source


def load_run_teacher(pipeline, data, unsafe_load, custom_objects, log):
    """The teacher loaded and checked against the data (which are sized to its input: ``DataSource.bind``); return
    ``(teacher, black_box or None)``."""
    from tfcompress.guards import check_teacher
    from tfcompress.interop.blackbox import is_black_box
    from tfcompress.interop.teacher import load_teacher

    if pipeline.teacher is None:
        raise ConfigError("the pipeline has no teacher: give a trained Keras model or the path of a saved one.")
    teacher = load_teacher(pipeline.teacher, safe_mode=not unsafe_load, custom_objects=custom_objects)
    black_box = teacher.black_box if is_black_box(teacher) else None
    check_teacher(teacher)
    data.bind(tuple(teacher.input_shape[1:]), teacher)
    if data.scale_used is not None:
        why = "the teacher rescales its inputs" if data.scale_used == 1.0 else "no Rescaling layer in the teacher"
        log(f"data: {data.description} read as pixel values x {data.scale_used:g} (scale: auto; {why})")
    data.check(input_shape=tuple(teacher.input_shape[1:]), num_classes=int(teacher.output_shape[-1]))
    if black_box is not None:
        check_black_box_stages(black_box, pipeline, log)
    return teacher, black_box


def first_model(pipeline, context, unsafe_load):
    """The model stage 1 starts from and its measurement ``(model, before)``.

    A given student is measured; a student built from a spec has random weights, so it is not converted (its
    measurement says ``untrained``, and the first stage is not judged against it); without a student, a copy of
    the teacher (the teacher itself stays intact to guide the stages), or a black-box teacher for a search.
    """
    if isinstance(pipeline.student, dict):
        model = build_spec_student(pipeline.student, context.data)
        return model, untrained(model)
    if pipeline.student is not None:
        model = load_student(pipeline.student, unsafe_load)
        return model, context.measure(model)
    if context.black_box is not None:  # only a search comes first (checked before): it reads the teacher's outputs
        return context.teacher, context.teacher_metrics["int8"]
    return copy_model(context.teacher), context.teacher_metrics["int8"]


def untrained(model):
    """The measurement of a freshly built student: nothing measured (see ``first_model``)."""
    return {"format": "int8", "params": int(model.count_params()), "untrained": True, "tflite_bytes": None,
            "gzip_bytes": None, "accuracy": None, "val_accuracy": None, "latency_median_us": None}


def remove_stale_tmp(output_dir):
    """Delete temporary files (``.<name>.<random>.tmp*``) that a killed run left beside its outputs."""
    folders = [output_dir, os.path.join(output_dir, "state")]
    folders += [os.path.join(output_dir, n) for n in os.listdir(output_dir) if re.fullmatch(r"stage_\d+_[\w-]+", n)]
    for folder in folders:
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            path = os.path.join(folder, name)
            if re.fullmatch(r"\..+\.tmp(\.\w+)?", name) and os.path.isfile(path):
                os.remove(path)


def clear_stage_folders(output_dir):
    """Remove the work folders and saved models of another recipe's run (so no search resumes its trials)."""
    for name in os.listdir(output_dir):
        if re.fullmatch(r"stage_\d+_[\w-]+", name) and os.path.isdir(os.path.join(output_dir, name)):
            shutil.rmtree(os.path.join(output_dir, name))
    state_dir = os.path.join(output_dir, "state")
    for name in os.listdir(state_dir) if os.path.isdir(state_dir) else []:
        if re.fullmatch(r"stage_\d+\.(keras|h5)", name):
            os.remove(os.path.join(state_dir, name))


def teacher_metrics(teacher, black_box, data, runs):
    """The teacher's float32 and int8 files measured; a ``.tflite`` teacher is measured as the file it is."""
    if black_box is not None and black_box["kind"] == "tflite":
        flat = black_box["flat"]
        from tfcompress.export import inspect_tflite

        fmt = "int8" if "int8" in str(inspect_tflite(flat)["inputs"][0]["dtype"]) else "float"
        metrics = measure_file(flat, data, fmt=fmt, params=black_box["params"], latency_runs=runs)
        return {"float32": metrics, "int8": metrics}
    out = {"float32": measure_model(teacher, data, "float", latency_runs=runs),
           "int8": measure_model(teacher, data, "int8", latency_runs=runs)}
    if black_box is not None:
        for metrics in out.values():
            metrics["params"] = black_box["params"]
    return out


def check_black_box_stages(black_box, pipeline, log):
    """A black-box teacher gives outputs only: refuse stages that change or look inside it, before any work."""
    from tfcompress.stage import stage_label

    what = f"the teacher {black_box['source']!r} runs as a black box ({black_box['kind']}: only its outputs are used)"
    first = pipeline.stages[0] if pipeline.stages else None
    if pipeline.student is None and first is not None and not first.provides_student:
        raise ConfigError(f"{what}, so stage 1 ({first.name!r}) cannot change the teacher itself. Fix: add "
                          "`student:` or put a `search` stage first; to prune or quantize the teacher, give it as a "
                          "model tfcompress can rebuild (built-in Keras layers).")
    for i, stage in enumerate(pipeline.stages):
        if stage.teacher_internals:
            raise ConfigError(f"{what}; stage {i + 1} ({stage_label(stage)}) needs the teacher's "
                              f"{stage.teacher_internals}. Fix: use `distill` with training data (it reads the "
                              "teacher's outputs only), or give a teacher tfcompress can rebuild.")
    log(f"{what}")


def copy_model(model):
    """A new model with the same architecture and weights (``clone_model`` + ``set_weights``)."""
    from tfcompress._keras import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def load_student(path, unsafe):
    """A student saved as a file (a tf_keras model), or a model given as it is."""
    if not isinstance(path, (str, os.PathLike)):
        return path
    if not os.path.exists(path):
        raise ModelError(f"student model {os.fspath(path)!r} does not exist. Give a saved tf_keras model "
                         "(.keras, .h5 or a SavedModel folder).")
    return load_model(os.fspath(path), safe_mode=not unsafe)


def build_spec_student(spec, data):
    """A new student from a spec ``{family: ..., options...}`` (``tfcompress.models.build_student``)."""
    from tfcompress.models import build_student

    options = {k: v for k, v in spec.items() if k != "family"}
    return build_student(spec.get("family"), tuple(data.input_shape), data.num_classes, **options)

__all__ = ["prepare_output", "read_data", "load_run_teacher", "first_model", "teacher_metrics",
           "clear_stage_folders"]
