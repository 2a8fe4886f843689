"""Microcontrollers: flash bytes, measured TFLM arena, and accuracy in TensorFlow Lite Micro and in LiteRT.

Rows, all on scikit-learn's digits (``tfcompress.load_digits_data``, the held-out test split), every number
measured on a ``.tflite`` file:

1. ``demo``: the int8 file the install ships (``tflite_models/digits_int8.tflite``, what ``tfcompress demo``
   writes), run as it is;
2. ``budget``: the default pipeline (search → distill → QAT → int8 export with ``tflm: true``) under a flash and a
   RAM budget (``budget: {max_bytes, max_arena_bytes}``), for each budget pair of ``--budgets``; the distilled
   student of that run (the float model before QAT) is also converted post-training to ``int8``, ``int16x8``
   and ``mixed`` (per-layer int8/int16 activations, ``tfcompress.export.mixed``), so the formats compare on one
   float student.

Columns: format, flash bytes (the file), measured arena (the smallest that allocates and runs, with the budget
it had to meet), test accuracy in LiteRT and in TFLM, argmax agreement and largest output difference (LSB)
between them, and the wall time of the run.

The baseline measured in the same run is the float student's post-training int8 file: the int16x8 and mixed
rows of the same student are compared with it (bytes, arena, accuracy).

Writes ``benchmarks/results/micro.json`` and ``micro.md``.

Usage:
    python benchmarks/micro.py                                   # budgets 12000:3000 12000:6000 (~10 min)
    python benchmarks/micro.py --budgets 12000:4000 --quick      # one budget, a short search (~3 min)
"""

import argparse
import os
import sys
import tempfile
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py, next to this file)

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
BUNDLED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tflite_models",
                       "digits_int8.tflite")


def measure(flat, data, budget=None):
    """Flash bytes, measured arena, LiteRT and TFLM test accuracy, agreement and max LSB of one file."""
    from tfcompress.export import check_tflm

    check = check_tflm(flat, data["x_test"], y=data["y_test"])  # one TFLM pass and one LiteRT pass
    row = {"flash_bytes": len(flat), "arena_bytes": check["arena_bytes"], "arena_fails_at": check["arena_fails_at"],
           "litert_accuracy": check["litert_accuracy"], "tflm_accuracy": check["tflm_accuracy"],
           "argmax_agreement": check["argmax_agreement"], "max_abs_diff_lsb": check["max_abs_diff_lsb"],
           "samples": check["samples"]}
    if budget:
        row["max_bytes"], row["max_arena_bytes"] = budget
        row["fits"] = row["flash_bytes"] <= budget[0] and row["arena_bytes"] <= budget[1]
    return row


def train_teacher(data, workdir):
    """The demo's teacher CNN (``tfcompress.pipeline.demo.TEACHER['full']``), trained once and cached."""
    from tfcompress import build_cnn
    from tfcompress._keras import keras
    from tfcompress.fileio import load_model, save_model
    from tfcompress.pipeline.demo import TEACHER

    path = os.path.join(workdir, "teacher.keras")
    if os.path.exists(path):
        return path
    cfg = TEACHER["full"]
    keras.utils.set_random_seed(0)
    teacher = build_cnn(data["x_train"].shape[1:], 10, filters=cfg["filters"], dense_units=cfg["dense_units"],
                        name="teacher")
    teacher.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], epochs=cfg["epochs"], batch_size=32, verbose=0)
    save_model(teacher, path)
    load_model(path)
    return path


def budget_run(teacher_path, data_path, budget, workdir, quick):
    """``tfcompress run`` of the default stages under ``budget``; return (report, output folder, seconds)."""
    import json
    import subprocess

    import yaml

    import shutil

    folder = os.path.join(workdir, f"run_{budget[0]}_{budget[1]}" + ("_quick" if quick else ""))
    shutil.rmtree(folder, ignore_errors=True)  # a fresh run: the wall time covers every stage
    recipe = {"teacher": teacher_path, "data": data_path, "output": os.path.join(folder, "out"), "latency_runs": 50,
              "budget": {"max_bytes": budget[0], "max_arena_bytes": budget[1]}}
    if quick:
        from tfcompress.pipeline.defaults import default_stages

        stages = default_stages(recipe["budget"])
        stages[0]["search"].update(max_trials=4, epochs=4)
        stages[1]["distill"].update(epochs=30)
        recipe["stages"] = stages
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "recipe.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(recipe, f)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tfcompress.cli", "run", path, "--quiet"], check=True)
    seconds = time.perf_counter() - start
    with open(os.path.join(folder, "out", "report.json")) as f:
        return json.load(f), os.path.join(folder, "out"), seconds


def float_student(report, out):
    """The student as it left the last stage before QAT (a plain float Keras model), from the run's state."""
    from tfcompress.fileio import load_model

    rows = report["stages"]
    before_qat = [r for r in rows if r["stage"] == "quantize"]
    index = (before_qat[0]["index"] - 1) if before_qat else len(rows) - 1  # 1-based index of the stage before
    for i in range(index, 0, -1):
        path = os.path.join(out, "state", f"stage_{i}.keras")
        if os.path.exists(path):
            return load_model(path)
    raise FileNotFoundError(f"no float student saved in {out}/state")


#: The formats each float student is converted to, post-training (``mixed``: ``tfcompress.export.mixed``).
FORMATS = ("int8", "int16x8", "mixed")


def convert_student(model, fmt, data):
    """The float student as a ``fmt`` file, calibrated on the run's calibration rows (``mixed``: chosen on the
    validation split, within 0.5 pt of int16x8)."""
    from tfcompress.data import calibration_inputs
    from tfcompress.export import convert, mixed_precision

    if fmt == "mixed":
        flat, _ = mixed_precision(model, calibration_inputs(data), (data["x_val"], data["y_val"]), tolerance=0.005)
        return flat
    return convert(model, fmt, representative_data=calibration_inputs(data))


def markdown(rows):
    head = ["row", "format", "flash B", "arena B (budget)", "LiteRT acc", "TFLM acc", "agreement", "max LSB",
            "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for r in rows:
        budget = f" (≤ {r['max_arena_bytes']:,})" if r.get("max_arena_bytes") else ""
        flash = f"{r['flash_bytes']:,}" + (f" (≤ {r['max_bytes']:,})" if r.get("max_bytes") else "")
        lines.append(f"| {r['row']} | {r['format']} | {flash} | {r['arena_bytes']:,}{budget} | "
                     f"{100 * r['litert_accuracy']:.2f}% | {100 * r['tflm_accuracy']:.2f}% | "
                     f"{r['argmax_agreement']:.4f} | {r['max_abs_diff_lsb']} | "
                     f"{'' if r.get('wall_s') is None else round(r['wall_s'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", default=["12000:3000", "12000:6000"],
                        help="flash:RAM budget pairs in bytes (max_bytes:max_arena_bytes)")
    parser.add_argument("--quick", action="store_true", help="a short search and distillation")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tfcompress_micro"))
    parser.add_argument("--output", default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    from tfcompress import load_digits_data
    from tfcompress.data import save_npz
    from tfcompress.fileio import read_tflite

    os.makedirs(args.workdir, exist_ok=True)
    data = load_digits_data()
    data_path = os.path.join(args.workdir, "digits.npz")
    save_npz(data_path, data)
    rows = [dict(row="demo (bundled file)", format="int8", **measure(read_tflite(BUNDLED), data))]
    print(rows[-1], flush=True)
    teacher_path = train_teacher(data, args.workdir)
    for pair in args.budgets:
        budget = tuple(int(v) for v in pair.split(":"))
        report, out, seconds = budget_run(teacher_path, data_path, budget, args.workdir, args.quick)
        label = f"budget {budget[0]:,} B flash, {budget[1]:,} B RAM"
        rows.append(dict(row=label, format="int8", wall_s=seconds, report_budget=report["summary"].get("budget"),
                         **measure(read_tflite(os.path.join(out, "model.tflite")), data, budget)))
        print(rows[-1], flush=True)
        student = float_student(report, out)
        for fmt in FORMATS:
            rows.append(dict(row=label + ", float student, post-training", format=fmt,
                             **measure(convert_student(student, fmt, data), data, budget)))
            print(rows[-1], flush=True)
    result = {"benchmark": "micro", "budgets": args.budgets, "quick": args.quick, "rows": rows,
              "environment": common.environment()}
    name = "micro.quick" if args.quick else "micro"
    os.makedirs(args.output, exist_ok=True)
    common.write_json(os.path.join(args.output, f"{name}.json"), result)
    common.write_text(os.path.join(args.output, f"{name}.md"), markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
