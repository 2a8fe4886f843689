"""Count TFLite conversions of a ``tfcompress run``, from outside the package, by wrapping the converter.

This script wraps the public entry points of the TensorFlow Lite converter (``tf.lite.TFLiteConverter.
from_keras_model``, ``from_concrete_functions``, ``from_saved_model``) so that every ``convert()`` of the
converters they return is recorded — whether it calibrated to integer (a representative dataset was set), and a
digest of the file it produced — and then runs the ``tfcompress run`` command in this same process. Nothing of
tfcompress is changed or asked: the counts are what the converter saw.

Scenarios (``--scenario``, default all), each on a small digits CNN teacher and a ``student: {family: cnn}``
spec:

- ``distill``: distill + int8 export;
- ``distill_qat``: distill + QAT (with the teacher) + int8 export;
- ``search``: search (3 trials) + distill + QAT + int8 export, under a 12,000-byte budget.

Writes ``benchmarks/results/conversions.json`` and ``conversions.md``: per scenario the int8 conversions, the
distinct int8 files among them, the float conversions, and the wall time.

Usage:
    python benchmarks/conversions.py                       # all scenarios (a few minutes on 2 cores)
    python benchmarks/conversions.py --scenario distill    # one scenario
    python benchmarks/conversions.py --count-only -- run RECIPE.yaml   # count any tfcompress command
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py, next to this file)

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

SCENARIOS = {
    "distill": [{"distill": {"epochs": 3}}, {"export": {"format": "int8"}}],
    "distill_qat": [{"distill": {"epochs": 3}}, {"quantize": {"method": "qat", "epochs": 1}},
                    {"export": {"format": "int8"}}],
    # the default stages' kinds (search, distill, QAT, export) at smoke-test sizes
    "search": [{"search": {"max_trials": 3, "epochs": 2, "budget": {"max_bytes": 12000}}},
               {"distill": {"epochs": 3}}, {"quantize": {"method": "qat", "epochs": 1}},
               {"export": {"format": "int8"}}],
}


class ConversionLog:
    """Records every ``convert()`` of the converters made by ``tf.lite.TFLiteConverter``'s constructors."""

    def __init__(self):
        self.calls = []

    def install(self):
        import tensorflow as tf

        cls = tf.lite.TFLiteConverter
        for name in ("from_keras_model", "from_concrete_functions", "from_saved_model"):
            original = getattr(cls, name)
            setattr(cls, name, classmethod(self._factory(original)))

    def _factory(self, original):
        log = self

        def make(cls, *args, **kwargs):
            converter = original(*args, **kwargs)
            convert = converter.convert

            def counted():
                start = time.perf_counter()
                flat = convert()
                log.calls.append({"integer": converter.representative_dataset is not None,
                                  "sha256": hashlib.sha256(flat).hexdigest()[:16],
                                  "seconds": round(time.perf_counter() - start, 3)})
                return flat

            converter.convert = counted
            return converter

        return make

    def summary(self):
        integer = [c for c in self.calls if c["integer"]]
        return {"int8_conversions": len(integer), "int8_distinct_files": len({c["sha256"] for c in integer}),
                "other_conversions": len(self.calls) - len(integer),
                "convert_seconds": round(sum(c["seconds"] for c in self.calls), 2)}


def run_cli(argv):
    """Run ``tfcompress ARGV`` in this process under a fresh ``ConversionLog``; return ``(exit code, log)``."""
    from tfcompress.cli import main

    log = ConversionLog()
    log.install()
    code = main(list(argv))
    return code, log


def prepare(workdir):
    """A small trained digits CNN teacher (``.keras``) and the digits ``.npz`` in ``workdir``."""
    from tfcompress import build_cnn, load_digits_data
    from tfcompress._keras import keras
    from tfcompress.data import save_npz

    data_path, teacher_path = os.path.join(workdir, "digits.npz"), os.path.join(workdir, "teacher.keras")
    data = load_digits_data()
    save_npz(data_path, data)
    keras.utils.set_random_seed(0)
    teacher = build_cnn(data["x_train"].shape[1:], 10, filters=(16, 32), dense_units=32)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    teacher.fit(data["x_train"], data["y_train"], epochs=4, batch_size=64, verbose=0)
    teacher.save(teacher_path)
    return teacher_path, data_path


def recipe_for(scenario, teacher_path, data_path, output):
    recipe = {"teacher": teacher_path, "data": data_path, "output": output, "latency_runs": 20,
              "stages": SCENARIOS[scenario]}
    if scenario != "search":
        recipe["student"] = {"family": "cnn", "filters": [8, 16], "dense_units": 16}
    return recipe


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=list(SCENARIOS), nargs="+", default=list(SCENARIOS))
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tfcompress_conversions"))
    parser.add_argument("--output", default=RESULTS, help="results folder")
    parser.add_argument("--count-only", action="store_true", help="count the tfcompress command after --")
    parser.add_argument("command", nargs="*", help="with --count-only: the tfcompress arguments")
    args = parser.parse_args(argv)
    if args.count_only:
        code, log = run_cli(args.command)
        print(json.dumps(log.summary()))
        return code
    import yaml

    os.makedirs(args.workdir, exist_ok=True)
    teacher_path, data_path = prepare(args.workdir)
    rows = []
    for scenario in args.scenario:
        folder = os.path.join(args.workdir, scenario)
        recipe = recipe_for(scenario, teacher_path, data_path, os.path.join(folder, "out"))
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        path = os.path.join(folder, "recipe.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(recipe, f)
        start = time.perf_counter()
        code, log = run_cli(["run", path, "--quiet"])
        rows.append({"scenario": scenario, "exit_code": code, "wall_s": round(time.perf_counter() - start, 1),
                     **log.summary()})
        print(rows[-1], flush=True)
    lines = ["| scenario | int8 conversions | distinct int8 files | other conversions | convert s | wall s |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['scenario']} | {r['int8_conversions']} | {r['int8_distinct_files']} | "
              f"{r['other_conversions']} | {r['convert_seconds']} | {r['wall_s']} |" for r in rows]
    result = {"benchmark": "conversions", "rows": rows, "environment": common.environment()}
    os.makedirs(args.output, exist_ok=True)
    common.write_json(os.path.join(args.output, "conversions.json"), result)
    common.write_text(os.path.join(args.output, "conversions.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
