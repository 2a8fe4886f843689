"""``tfcompress demo``: a whole compression on data that ship with the install, no downloads.

Trains a teacher CNN on scikit-learn's 8x8 digits (cached in the output
folder), writes the data and a recipe (``recipe.yaml``) next to it, and runs
the recipe: search a small student under a size budget → distil it → prune →
quantization-aware training → int8 export, and prints a short table.

Everything goes to the output folder, by default ``default_output()`` (the user's
cache folder, outside any checkout), so that a newcomer's ``git status`` stays
clean; the int8 model is ``digits_int8.tflite`` there. Only with
``update_bundled=True`` (``tfcompress demo --update-bundled``, run from a
checkout) is the bundled ``tflite_models/digits_int8.tflite`` (+ ``.json``) replaced.
"""

import os
import time

from tfcompress.fileio import copy_file, save_model, write_text
from tfcompress.pipeline.defaults import default_stages
from tfcompress.pipeline.recipe import to_yaml

#: Teacher and recipe of the full demo and of ``--quick`` (a smoke test, under a minute).
TEACHER = {"full": {"filters": (32, 64, 128), "dense_units": 128, "epochs": 30},
           "quick": {"filters": (16, 32), "dense_units": 32, "epochs": 12}}


def demo_stages(teacher_int8_bytes, quick=False, teacher_int8_latency_us=None):
    """The demo's stages as recipe entries: the default pipeline (``tfcompress.pipeline.defaults``) under a
    budget of a tenth of the teacher's int8 size and, when ``teacher_int8_latency_us`` is given, half its
    latency on this machine, with magnitude pruning and prune-preserving QAT.

    Without the latency bound the accuracy-ranked search once picked a 3-stage student with 48 filters at
    full resolution: 4% of the teacher's size but slower than the teacher (28 vs 26 us).

    Pruning leaves only the first conv dense (the searched student may have no other hidden layer, and
    a stage with nothing to prune is an error). The quick recipe is a smoke test: its teacher is already
    tiny, so the budget only keeps the two trials (fixed by the seed) small; it prunes every layer.
    """
    if quick:
        return [
            {"search": {"family": "cnn", "max_trials": 2, "epochs": 2, "budget": {"max_bytes": 20000}}},
            {"distill": {"epochs": 10}},
            {"prune": {"method": "magnitude", "sparsity": 0.5, "epochs": 1, "exclude": []}},
            {"quantize": {"method": "qat", "epochs": 1}},
            {"export": {"format": "int8"}},
        ]
    budget = {"max_bytes": int(teacher_int8_bytes // 10)}
    if teacher_int8_latency_us:
        budget["max_latency_us"] = round(teacher_int8_latency_us / 2, 1)
    stages = default_stages(budget)
    # the default pipeline, plus magnitude pruning before QAT; prune-preserving QAT keeps the zeros
    stages.insert(2, {"prune": {"method": "magnitude", "sparsity": 0.5, "epochs": 3, "exclude": ["first_conv"]}})
    stages[3] = {"quantize": dict(stages[3]["quantize"], method="pqat")}
    return stages


def default_output():
    """Where the demo writes by default: ``$XDG_CACHE_HOME/tfcompress/demo`` (``~/.cache/tfcompress/demo``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "tfcompress", "demo")


def run_demo(output=None, quick=False, verbose=1, log=None, update_bundled=False):
    """Run the demo; return the report dict (with ``"model_path"`` of the int8 file).

    Args:
        output: output folder (teacher, data, recipe, report, stage folders); None for ``default_output()``.
            Defaults to None.
        quick: a much smaller teacher and recipe, for tests. Defaults to False.
        verbose: 0 silent, 1 progress lines, 2 also Keras's own output. Defaults to 1.
        log: function taking one line of progress. Defaults to printing when verbose.
        update_bundled: also replace ``tflite_models/digits_int8.tflite`` and its card in the current folder
            (a checkout of the repository), on purpose. Defaults to False.

    Raises:
        ConfigError: ``update_bundled`` outside a checkout (no ``tflite_models/`` folder here), or with ``quick``.
    """
    from tfcompress.errors import ConfigError

    if update_bundled and (quick or not os.path.isdir("tflite_models")):
        raise ConfigError("--update-bundled replaces tflite_models/digits_int8.* of a checkout: run the full demo "
                          "(not --quick) from the repository's top folder.")
    output = default_output() if output is None else output
    from tfcompress._keras import keras
    from tfcompress.data import load_digits_data, save_npz
    from tfcompress.models import build_cnn
    from tfcompress.pipeline.measure import measure_model
    from tfcompress.pipeline.pipeline import run_recipe
    from tfcompress.fileio import load_model
    from tfcompress.train import Trainer, accuracy

    if log is None:
        log = (lambda line: print(line, flush=True)) if verbose else (lambda line: None)
    start = time.perf_counter()
    mode = "quick" if quick else "full"
    os.makedirs(output, exist_ok=True)
    data = load_digits_data()
    data_path = os.path.join(output, "digits.npz")
    if not os.path.exists(data_path):
        save_npz(data_path, data)

    teacher_path = os.path.join(output, "teacher_quick.keras" if quick else "teacher.keras")
    if os.path.exists(teacher_path):
        log(f"teacher: reusing {teacher_path}")
        teacher = load_model(teacher_path)
    else:
        spec = TEACHER[mode]
        keras.utils.set_random_seed(0)
        teacher = build_cnn((8, 8, 1), 10, filters=spec["filters"], dense_units=spec["dense_units"], name="teacher")
        log(f"teacher: training a {teacher.count_params():,}-parameter CNN on the digits for {spec['epochs']} "
            "epochs")
        trainer = Trainer(data, batch_size=32, learning_rate=3e-3, verbose=2 if verbose >= 2 else 0,
                          progress=log if verbose else None)
        trainer.label = "teacher"
        trainer.fit(teacher, spec["epochs"])
        save_model(teacher, teacher_path)
        log(f"teacher: validation accuracy {accuracy(teacher, data['x_val'], data['y_val']):.4f}, saved to "
            f"{teacher_path}")
    teacher_int8 = measure_model(teacher, data, "int8", latency_runs=0 if quick else 200)

    recipe = {"teacher": os.path.basename(teacher_path), "data": "digits.npz", "output": ".", "seed": 0,
              "batch_size": 32, "learning_rate": 0.002,
              "latency_runs": 200 if not quick else 10, "stages": demo_stages(teacher_int8["tflite_bytes"], quick,
                                                           teacher_int8.get("latency_median_us"))}
    recipe_path = os.path.join(output, "recipe.yaml")
    write_text(recipe_path, "# tfcompress demo recipe: run it again with `tfcompress run recipe.yaml`\n"
               + to_yaml(recipe))
    log(f"writing to {os.path.abspath(output)} (recipe: {recipe_path})")
    report = run_recipe(recipe_path, verbose=verbose, log=log)

    targets = [output] + (["tflite_models"] if update_bundled else [])
    for target in targets:
        copy_file(os.path.join(output, "model.tflite"), os.path.join(target, "digits_int8.tflite"))
        if os.path.exists(os.path.join(output, "model.json")):
            copy_file(os.path.join(output, "model.json"), os.path.join(target, "digits_int8.json"))
    model_path = os.path.join(targets[-1], "digits_int8.tflite")
    report["model_path"] = model_path
    for line in summary_table(report).splitlines():
        log(line)
    log(f"int8 model: {model_path}; report: {os.path.join(output, 'report.md')}; "
        f"demo took {time.perf_counter() - start:.0f} s")
    return report


def summary_table(report):
    """A short plain-text table of a report: the teacher, each stage, the whole run."""
    rows = [("teacher float32", report["teacher"]["float32"]), ("teacher int8", report["teacher"]["int8"])]
    rows += [(f"{r['index']}. {r['stage']}" + (f" ({r['method']})" if r.get("method") else ""), r["after"])
             for r in report["stages"]]
    lines = [f"{'model':<26}{'params':>10}{'bytes':>10}{'accuracy':>10}{'latency us':>12}"]
    for name, m in rows:
        lat = m.get("latency_median_us")
        lines.append(f"{name:<26}{m['params'] or 0:>10,}{m['tflite_bytes']:>10,}{m['accuracy']:>10.2%}"
                     f"{(f'{lat:.1f}' if lat is not None else 'n/a'):>12}")
    s = report["summary"]

    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)

    lines.append(f"whole run: {fmt(s.get('compression_ratio'), '.1f')}x smaller, speed-up "
                 f"{fmt(s.get('speedup_ratio'), '.2f')}x (measured here), accuracy drop "
                 f"{fmt(None if s.get('accuracy_drop') is None else 100 * s['accuracy_drop'], '.2f')} pp")
    return "\n".join(lines)


__all__ = ["run_demo", "demo_stages", "summary_table", "default_output"]
