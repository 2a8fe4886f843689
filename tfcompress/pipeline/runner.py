"""The run loop of a ``Pipeline``: load, measure, apply each stage, save state, write the report."""

import json
import os
import re
import shutil
import time

import numpy as np

from tfcompress.errors import ConfigError, ModelError
from tfcompress.pipeline.files import copy_file
from tfcompress.pipeline.measure import from_card, measure_file, measure_model
from tfcompress.pipeline.recipe import DISTILL_STAGES
from tfcompress.pipeline.state import fingerprint, RunState, load_model, recipe_hash


def run_pipeline(pipeline, data, output_dir, verbose=1, unsafe_load=False, log=print, custom_objects=None):
    """Run ``pipeline`` on ``data`` into ``output_dir``; return the report dict. See ``Pipeline.run``."""
    from tfcompress._keras import keras
    from tfcompress.data import check_dataset, load_npz
    from tfcompress.pipeline.registry import stage_entry
    from tfcompress.pipeline.report import budget_line, write_report
    from tfcompress.train import Trainer

    from tfcompress.guards import check_output_dir, check_teacher

    run_start = time.perf_counter()
    check_output_dir(output_dir)
    _remove_stale_tmp(output_dir)
    needs_train = [s for s in pipeline.stages if s.needs_training_data]
    data = load_npz(os.fspath(data), require_train=False) if isinstance(data, (str, os.PathLike)) else data
    check_dataset(data, require_train=False)
    if needs_train and "x_train" not in data:
        raise ConfigError(f"stage {needs_train[0].name!r} trains on x_train/y_train, which the data lack; give "
                          "them, or use only stages that need no training data (distill: {data_free: true}, "
                          "quantize: {method: ptq}, export).")
    if pipeline.teacher is None:
        raise ConfigError("the pipeline has no teacher: give a trained Keras model or the path of a saved one.")
    from tfcompress.interop.blackbox import is_black_box
    from tfcompress.interop.teacher import load_teacher

    teacher = load_teacher(pipeline.teacher, safe_mode=not unsafe_load, custom_objects=custom_objects)
    black_box = teacher.black_box if is_black_box(teacher) else None
    check_teacher(teacher)
    check_dataset(data, source="data", input_shape=tuple(teacher.input_shape[1:]),
                  num_classes=int(teacher.output_shape[-1]), require_train=False)
    runs = pipeline.latency_runs
    stages = pipeline.stages
    n = len(stages)

    config = pipeline.get_config()
    identity = {"teacher_params": int(teacher.count_params()), "teacher_name": teacher.name,
                "inputs": fingerprint(teacher.get_weights(), [data[k] for k in sorted(data)]),
                "black_box": black_box and black_box["digest"]}
    if black_box is not None:
        _check_black_box_stages(black_box, pipeline, log)
    state = RunState(output_dir, recipe_hash({**config, **identity}))
    skip = state.load()
    if state.restarted:
        log(f"state in {state.dir} belongs to a different recipe: starting over")
        _clear_stage_folders(output_dir)
    if skip:
        log(f"resuming: stages 1-{skip} of {n} finished in an earlier run")

    if state.teacher is None:
        log("measuring the teacher (float and int8 .tflite in the LiteRT interpreter)")
        state.record_teacher(_teacher_metrics(teacher, black_box, data, runs))
    teacher_metrics = state.teacher
    if black_box is not None and black_box["kind"] == "tflite":  # one file, measured as it is
        log(f"teacher: {_fmt(teacher_metrics['int8'])} (the .tflite file, {teacher_metrics['int8']['format']})")
    else:
        log(f"teacher: {_fmt(teacher_metrics['float32'])} (float32); {_fmt(teacher_metrics['int8'])} (int8)")

    has_student = pipeline.student is not None or any(s.name == "search" for s in stages[:skip])
    if skip:
        model = state.last_model()
        before = state.finished[-1]["after"]
    else:
        if pipeline.student is not None:
            model = _student(pipeline.student, data, unsafe_load)
            before = measure_model(model, data, "int8", latency_runs=runs)
        elif black_box is not None:  # only a search comes first (checked above): it reads the teacher's outputs
            model, before = teacher, teacher_metrics["int8"]
        else:  # stages compress a copy of the teacher, and the teacher itself stays intact to guide them
            model = _copy(teacher)
            before = teacher_metrics["int8"]

    from tfcompress.distill.cache import TeacherCache
    from tfcompress.pipeline.guard import StageGuard

    guard = StageGuard(pipeline.tolerance, val_samples=len(data["y_val"]))

    teacher_cache = TeacherCache(teacher)  # the teacher's outputs on the fixed splits, predicted once per run
    rows, export_dir, search_stage = [], None, None
    for i, stage in enumerate(stages):
        label = _label(stage)
        workdir = os.path.join(output_dir, f"stage_{i + 1}_{stage.name}")
        if stage.name == "search":
            search_stage = stage
        if i < skip:
            rec = state.finished[i]
            stage._report = rec["report"]
            rows.append(_row(i, stage, stage_entry(stage), rec["before"], rec["after"], rec["elapsed_s"],
                             rec["report"]))
            if stage.name == "export":
                export_dir = workdir
            log(f"[{i + 1}/{n}] {label}: finished in an earlier run, skipped")
            continue
        if stage.name in DISTILL_STAGES and not has_student:
            raise ConfigError(f"stage {i + 1} ({stage.name!r}) needs a student: add `student:` or a `search` "
                              "stage before distill.")
        keras.utils.set_random_seed(int(pipeline.seed) + i)
        trainer = Trainer(data, teacher=teacher,
                          batch_size=pipeline.batch_size, learning_rate=pipeline.learning_rate,
                          distill_options=pipeline.distill, verbose=2 if verbose >= 2 else 0, workdir=workdir,
                          teacher_cache=teacher_cache, progress=log if verbose else None)
        trainer.stage = f"stage {i + 1} ({label})"
        trainer.label = f"[{i + 1}/{n}] {label}"
        os.makedirs(workdir, exist_ok=True)
        if stage.name == "export":
            stage.stage_configs = [stage_entry(s) for s in stages[:i]]
            stage.latency_runs = runs
        log(f"[{i + 1}/{n}] {label}: started")
        start = time.perf_counter()
        # stages may train their input in place (distill does): keep its weights to put back on a revert
        snapshot = model.get_weights() if getattr(stage, "judged", True) else None
        new = stage.apply(model, trainer)
        if not isinstance(new, keras.Model):
            raise ModelError(f"stage {i + 1} ({label}) returned {type(new).__name__}, not a tf_keras model.")
        elapsed = round(time.perf_counter() - start, 2)
        has_student = has_student or stage.name == "search"
        if stage.name == "export":
            export_dir = workdir
            after = from_card(stage.report["card"], data, fmt=stage.format, params=int(new.count_params())) or \
                measure_file(os.path.join(workdir, "model.tflite"), data, fmt=stage.format,
                             params=int(new.count_params()), latency_runs=runs)
        else:
            after = measure_model(new, data, "int8", latency_runs=runs)
        decision = guard.judge(stage, before, after)
        if decision["kept"] == "input":
            model.set_weights(snapshot)
            new, after = model, before
        if decision["reason"]:
            log(f"[{i + 1}/{n}] {label}: {decision['reason']}")
        report = dict(_jsonable(stage.report), guard=decision)
        state.record_stage(i, stage.name, new, report, before, after, elapsed)
        rows.append(_row(i, stage, stage_entry(stage), before, after, elapsed, report))
        log(f"[{i + 1}/{n}] {label}: done in {elapsed:.1f} s; {_fmt(after)}")
        model, before = new, after

    if export_dir is not None:
        copy_file(os.path.join(export_dir, "model.tflite"), os.path.join(output_dir, "model.tflite"))
        for extra in ("model.json", "model.cc", "model.h"):  # the card, and the C array if one was written
            if os.path.exists(os.path.join(export_dir, extra)):
                copy_file(os.path.join(export_dir, extra), os.path.join(output_dir, extra))
    from tfcompress.pipeline.keras3_out import write_keras3_student

    keras3 = write_keras3_student(state.finished, data, output_dir, load=load_model)
    if keras3 and keras3.get("error"):
        log(f"Keras 3 student: not written ({keras3['error']})")
    report = write_report(output_dir, config=config, teacher=teacher_metrics, rows=rows,
                          elapsed_s=round(time.perf_counter() - run_start, 2), latency_runs=runs,
                          search_stage=search_stage, resumed_stages=skip, keras3=keras3)
    summary = report["summary"]
    log(f"done in {report['elapsed_s']:.0f} s: {_ratio(summary.get('compression_ratio'))} smaller, "
        f"speed-up {_ratio(summary.get('speedup_ratio'))}, accuracy drop "
        f"{_pp(summary.get('accuracy_drop'))}; wrote {os.path.join(output_dir, 'report.md')}")
    if summary.get("budget"):
        log(f"budget {budget_line(summary['budget'])}")
    return report


def _remove_stale_tmp(output_dir):
    """Delete temporary files (``.<name>.<random>.tmp*``) that a killed run left beside its outputs."""
    folders = [output_dir, os.path.join(output_dir, "state")]
    folders += [os.path.join(output_dir, n) for n in os.listdir(output_dir) if re.fullmatch(r"stage_\d+_[\w-]+", n)]
    for folder in folders:
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            path = os.path.join(folder, name)
            if re.fullmatch(r"\..+\.tmp(\.\w+)?", name) and os.path.isfile(path):
                os.remove(path)


def _clear_stage_folders(output_dir):
    """Remove the work folders and saved models of another recipe's run (so no search resumes its trials)."""
    for name in os.listdir(output_dir):
        if re.fullmatch(r"stage_\d+_[\w-]+", name) and os.path.isdir(os.path.join(output_dir, name)):
            shutil.rmtree(os.path.join(output_dir, name))
    state_dir = os.path.join(output_dir, "state")
    for name in os.listdir(state_dir) if os.path.isdir(state_dir) else []:
        if re.fullmatch(r"stage_\d+\.(keras|h5)", name):
            os.remove(os.path.join(state_dir, name))


def _load(model_or_path, what, unsafe):
    if model_or_path is None or not isinstance(model_or_path, (str, os.PathLike)):
        return model_or_path
    if not os.path.exists(model_or_path):
        raise ModelError(f"{what} model {os.fspath(model_or_path)!r} does not exist. Give a saved tf_keras model "
                         "(.keras, .h5 or a SavedModel folder).")
    return load_model(os.fspath(model_or_path), unsafe=unsafe)


def _teacher_metrics(teacher, black_box, data, runs):
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


def _check_black_box_stages(black_box, pipeline, log):
    """A black-box teacher gives outputs only: refuse stages that change or look inside it, before any work."""
    what = f"the teacher {black_box['source']!r} runs as a black box ({black_box['kind']}: only its outputs are used)"
    first = pipeline.stages[0].name if pipeline.stages else None
    if pipeline.student is None and first not in (None, "search"):
        raise ConfigError(f"{what}, so stage 1 ({first!r}) cannot change the teacher itself. Fix: add `student:` "
                          "or put a `search` stage first; to prune or quantize the teacher, give it as a model "
                          "tfcompress can rebuild (built-in Keras layers).")
    for i, stage in enumerate(pipeline.stages):
        if getattr(type(stage), "method", None) == "data_free":
            raise ConfigError(f"{what}; stage {i + 1} (data-free distillation) needs the teacher's BatchNorm "
                              "statistics. Fix: give training data and use distillation with data.")
        if stage.name == "feature_distill":
            raise ConfigError(f"{what}; stage {i + 1} (feature_distill) needs the teacher's inner layers. Fix: use "
                              "`distill` (logits only), or give a teacher tfcompress can rebuild.")
    log(f"{what}")


def _copy(model):
    """A new model with the same architecture and weights (``clone_model`` + ``set_weights``)."""
    from tfcompress._keras import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _student(spec, data, unsafe):
    if not isinstance(spec, dict):
        return _load(spec, "student", unsafe)
    from tfcompress.data import num_classes_of
    from tfcompress.models import build_student

    options = {k: v for k, v in spec.items() if k != "family"}
    return build_student(spec.get("family"), tuple(np.asarray(data["x_val"]).shape[1:]),
                         num_classes_of(data["y_val"]), **options)


def _row(i, stage, entry, before, after, elapsed, report):
    (name, config), = entry.items()
    return {"index": i + 1, "stage": name, "method": getattr(type(stage), "method", None), "config": config,
            "before": before, "after": after, "elapsed_s": elapsed, "report": report}


def _label(stage):
    method = getattr(type(stage), "method", None)
    return f"{stage.name} ({method})" if method else stage.name


def _fmt(m):
    lat = m.get("latency_median_us")
    lat = f"{lat:.1f} us" if lat is not None else "latency not measured"
    return f"{m['tflite_bytes']:,} B, accuracy {m['accuracy']:.4f}, {lat}"


def _ratio(value):
    return "n/a" if value is None else f"{value:.2f}x"


def _pp(value):
    return "n/a" if value is None else f"{100 * value:.2f} pp"


def _jsonable(obj):
    from tfcompress.pipeline.files import _default

    return json.loads(json.dumps(obj, default=_default))


__all__ = ["run_pipeline"]
