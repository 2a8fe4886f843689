"""The run loop of a ``Pipeline``: a short loop over stages that share one ``RunContext``.

``run_pipeline`` checks and loads everything first (``pipeline/start.py``), opens the run's conversion cache
(each distinct model is converted once per format: the export writes the file that measured the last stage), and
then, for each stage: ``apply`` (through a ``Trainer`` from the context), ``measure`` (the stage's own hook; by
default its model as an int8 file), the guard's judgement (``pipeline/guard.py``), and the saved state that lets
a killed run resume. A stage finished in an earlier run only takes back its report (``restore``). When all have
run, each stage's ``finish`` hook runs (the export copies its file to the output), then the Keras 3 copy of the
student and the report are written. The runner knows no stage by name: what a stage needs and gives is said by
its class (``Stage.needs_student``, ``provides_student``, ``judged``, ``reduces_size``).
"""

import time

from tfcompress.errors import ModelError
from tfcompress.pipeline import start
from tfcompress.pipeline.context import RunContext
from tfcompress.fileio import jsonable, load_model
from tfcompress.pipeline.state import fingerprint, RunState, recipe_hash
from tfcompress.stage import stage_label


def run_pipeline(pipeline, data, output_dir, verbose=1, unsafe_load=False, log=print, custom_objects=None,
                 devices=None):
    """Run ``pipeline`` on ``data`` into ``output_dir``; return the report dict. See ``Pipeline.run``."""
    from tfcompress.export.cache import conversion_cache
    from tfcompress.pipeline.guard import StageGuard
    from tfcompress.pipeline.keras3_out import write_keras3_student
    from tfcompress.pipeline.registry import stage_entry
    from tfcompress.pipeline.report import write_report

    run_start = time.perf_counter()
    start.prepare_output(output_dir)
    data = start.read_data(data, pipeline.stages)
    teacher, black_box = start.load_run_teacher(pipeline, data, unsafe_load, custom_objects, log)
    context = RunContext(teacher, data, output_dir, seed=pipeline.seed, batch_size=pipeline.batch_size,
                         learning_rate=pipeline.learning_rate, distill_options=pipeline.distill,
                         latency_runs=pipeline.latency_runs, verbose=verbose, log=log, black_box=black_box)
    context.devices = devices or context.devices
    stages, n = pipeline.stages, len(pipeline.stages)
    config = pipeline.get_config()
    identity = {"teacher_params": int(teacher.count_params()), "teacher_name": teacher.name,
                "inputs": fingerprint(teacher.get_weights(), [data.fingerprint()]),
                "black_box": black_box and black_box["digest"]}
    state = RunState(output_dir, recipe_hash({**_without_devices(config), **identity}))
    skip = state.load()
    if state.restarted:
        log(f"state in {state.dir} belongs to a different recipe: starting over")
        start.clear_stage_folders(output_dir)
    if skip:
        log(f"resuming: stages 1-{skip} of {n} finished in an earlier run")

    with conversion_cache(context.conversions):
        _measure_teacher(context, state)
        if skip:
            model, before = state.last_model(), state.finished[-1]["after"]
        else:
            model, before = start.first_model(pipeline, context, unsafe_load)
        guard = StageGuard(pipeline.tolerance, val_samples=data.split("val").size)
        rows = []
        for i, stage in enumerate(stages):
            entry = stage_entry(stage)
            if i < skip:
                rec = state.finished[i]
                stage.restore(rec["report"])
                rows.append(_row(i, stage, entry, rec["before"], rec["after"], rec["elapsed_s"], rec["report"]))
                log(f"[{i + 1}/{n}] {stage_label(stage)}: finished in an earlier run, skipped")
            else:
                model, before, row = _run_stage(context, guard, state, (i, n), stage, model, before)
                rows.append(row)
            context.record(entry)
        for i, stage in enumerate(stages):
            stage.finish(context, context.workdir(i, stage))

    keras3 = write_keras3_student(state.finished, data, output_dir, load=load_model)
    if keras3 and keras3.get("error"):
        log(f"Keras 3 student: not written ({keras3['error']})")
    report = write_report(output_dir, config=config, teacher=context.teacher_metrics, rows=rows,
                          elapsed_s=round(time.perf_counter() - run_start, 2), latency_runs=pipeline.latency_runs,
                          resumed_stages=skip, keras3=keras3, devices=context.devices.report())
    _log_summary(report, output_dir, log)
    return report


def _measure_teacher(context, state):
    """The teacher's float32 and int8 files, measured once (a resumed run reads them from its state)."""
    if state.teacher is None:
        context.log("measuring the teacher (float and int8 .tflite in the LiteRT interpreter)")
        state.record_teacher(start.teacher_metrics(context.teacher, context.black_box, context.data,
                                                   context.latency_runs))
    metrics = context.teacher_metrics = state.teacher
    if context.black_box is not None and context.black_box["kind"] == "tflite":  # one file, measured as it is
        context.log(f"teacher: {_fmt(metrics['int8'])} (the .tflite file, {metrics['int8']['format']})")
    else:
        context.log(f"teacher: {_fmt(metrics['float32'])} (float32); {_fmt(metrics['int8'])} (int8)")


def _run_stage(context, guard, state, position, stage, model, before):
    """Apply, measure and judge stage ``i`` of ``n`` (``position``); save its state. Return ``(model,
    measurement, report row)``."""
    import os

    from tfcompress._keras import keras
    from tfcompress.pipeline.registry import stage_entry

    i, n = position
    label, workdir = f"[{i + 1}/{n}] {stage_label(stage)}", context.workdir(i, stage)
    keras.utils.set_random_seed(context.seed + i)
    os.makedirs(workdir, exist_ok=True)
    trainer = context.trainer(i, n, stage, workdir)
    context.log(f"{label}: started")
    begin = time.perf_counter()
    # stages may train their input in place (distill does): keep its weights to put back on a revert
    snapshot = model.get_weights() if stage.judged else None
    new = context.devices.apply(stage, model, trainer)  # mixed precision: trained mixed, given back float32
    if not isinstance(new, keras.Model):
        raise ModelError(f"stage {i + 1} ({stage_label(stage)}) returned {type(new).__name__}, not a tf_keras model.")
    elapsed = round(time.perf_counter() - begin, 2)
    after = stage.measure(new, context, workdir)
    decision = guard.judge(stage, before, after)
    if decision["kept"] == "input":
        model.set_weights(snapshot)
        new, after = model, before
    if decision["reason"]:
        context.log(f"{label}: {decision['reason']}")
    report = dict(jsonable(stage.report), guard=decision)
    state.record_stage(i, stage.name, new, report, before, after, elapsed)
    context.log(f"{label}: done in {elapsed:.1f} s; {_fmt(after)}")
    return new, after, _row(i, stage, stage_entry(stage), before, after, elapsed, report)


def _without_devices(config):
    """The recipe without its device keys: a run killed on one device setup resumes on another."""
    return {k: v for k, v in config.items() if k not in ("strategy", "mixed_precision")}


def _row(i, stage, entry, before, after, elapsed, report):
    (name, config), = entry.items()
    return {"index": i + 1, "stage": name, "method": getattr(type(stage), "method", None), "config": config,
            "before": before, "after": after, "elapsed_s": elapsed, "report": report}


def _log_summary(report, output_dir, log):
    import os

    from tfcompress.pipeline.report import budget_line

    summary = report["summary"]
    log(f"done in {report['elapsed_s']:.0f} s: {_ratio(summary.get('compression_ratio'))} smaller, "
        f"speed-up {_ratio(summary.get('speedup_ratio'))}, accuracy drop "
        f"{_pp(summary.get('accuracy_drop'))}; wrote {os.path.join(output_dir, 'report.md')}")
    if summary.get("budget"):
        log(f"budget {budget_line(summary['budget'])}")


def _fmt(m):
    if m.get("untrained"):
        return f"untrained student, {m['params']:,} parameters (not measured)"
    lat = m.get("latency_median_us")
    lat = f"{lat:.1f} us" if lat is not None else "latency not measured"
    return f"{m['tflite_bytes']:,} B, accuracy {m['accuracy']:.4f}, {lat}"


def _ratio(value):
    return "n/a" if value is None else f"{value:.2f}x"


def _pp(value):
    return "n/a" if value is None else f"{100 * value:.2f} pp"


__all__ = ["run_pipeline"]
