"""Beat the anchors: tfcompress's default pipeline against what a user would do instead, side by side.

Tasks (``--task``, see ``TASKS``; both built offline, nothing is downloaded):

- ``digits`` (default): scikit-learn digits (8x8x1; train / val / held-out test split of
  ``tfcompress.load_digits_data``); the teacher is a CNN (``build_cnn``, 636k parameters), the small student of
  rows 3-4 a two-conv CNN;
- ``tabular``: a synthetic vector task, ``tfcompress.data.make_tabular_data(n_samples=6000, n_features=32,
  n_classes=6)`` (scikit-learn ``make_classification``, standardised; 3,600 / 900 / 1,500 train / val / test);
  the teacher is an MLP (``build_mlp``, units (512, 512, 256), BatchNorm, dropout 0.2, 418k parameters), the
  small student of rows 3-4 an MLP of units (32, 16). Row 5's recipe is the same: the search picks the MLP family
  for vector inputs and the distillation's ``augment: auto`` is off for them.

One teacher (several hundred thousand parameters) is trained on the labels, then five rows are measured,
every number on an exported ``.tflite`` file in the LiteRT interpreter, on the same held-out test split:

1. ``teacher``: the teacher as a float32 file and as a post-training int8 file;
2. ``tfmot``: TFMOT alone on the teacher (no teacher guidance): polynomial magnitude pruning to 80% of every
   prunable layer, then prune-preserving QAT, int8 — through ``tfcompress.prune.MagnitudePruning`` and
   ``tfcompress.quantize.PrunePreservingQAT``, which call ``tfmot.sparsity.keras.prune_low_magnitude`` /
   ``strip_pruning`` and ``tfmot.quantization.keras.quantize_apply`` with the prune-preserve scheme;
3. ``keras.io KD``: the keras.io knowledge-distillation example rendered faithfully: ``Distiller(student,
   teacher, alpha=0.1, temperature=10)``, Adam at its default constant rate (1e-3), then int8 post-training;
4. ``scratch``: the same small student trained on the labels alone, same optimizer and epochs, int8 PTQ;
5. ``tfcompress run``: the real command in a subprocess on a recipe that gives only ``teacher``, ``data``,
   ``output`` and ``budget: {max_bytes: <row 4's int8 size>}`` — the default stages (search → distill →
   QAT with the teacher → int8 export), timed from the outside, read back from its ``report.json``.

Rows 2-5 run over several seeds (``--seeds``; row 2 was a single run at seed 0 until 2026-11-23, although its
shuffling and QAT vary with the seed as much as the other rows do); the table gives the mean, the JSON each seed.
Columns: params, ``.tflite`` bytes, gzip bytes, test accuracy, median batch-1 latency (1 thread), wall time.

Writes ``benchmarks/results/anchors.json``, ``anchors.md`` and ``anchors.png`` for digits, and
``anchors_tabular.{json,md,png}`` for ``--task tabular`` (``*.quick.*`` with ``--quick``). The teacher and data
are cached in ``--workdir`` under task-specific names.

Usage:
    python benchmarks/anchors.py                          # digits, full run (~15-25 min on 2 cores)
    python benchmarks/anchors.py --quick                  # digits, smoke run (a few minutes)
    python benchmarks/anchors.py --task tabular           # tabular, full run
    python benchmarks/anchors.py --task tabular --quick   # tabular, smoke run (a few minutes)
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py, next to this file)

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

#: Settings of the digits task, full run and ``--quick`` (``benchmarks/final_distill.py`` and
#: ``benchmarks/search_quality.py`` read them too, with ``train_teacher``).
CONFIG = {
    "full": {"teacher_filters": (64, 128, 256), "teacher_dense": 256, "teacher_epochs": 35,
             "teacher_lr": 3e-3, "student_filters": (8, 16), "student_dense": 16, "student_epochs": 60,
             "prune_epochs": 10, "pqat_epochs": 3, "batch_size": 32, "latency_runs": 200, "seeds": (0, 1)},
    "quick": {"teacher_filters": (16, 32), "teacher_dense": 32, "teacher_epochs": 4,
              "teacher_lr": 3e-3, "student_filters": (8, 16), "student_dense": 16, "student_epochs": 3,
              "prune_epochs": 1, "pqat_epochs": 1, "batch_size": 32, "latency_runs": 10, "seeds": (0,)},
}
#: Settings of the tabular task. The data are the same in both modes (a quick run only shrinks the teacher and the
#: epochs). At this size the 418k-parameter teacher reaches about 87-88% test accuracy and the (32, 16) student from
#: scratch about 78%, so there is room for distillation to help.
TABULAR_DATA = {"n_samples": 6000, "n_features": 32, "n_classes": 6}
TABULAR_CONFIG = {
    "full": {"data": dict(TABULAR_DATA), "teacher_units": (512, 512, 256), "teacher_dropout": 0.2,
             "teacher_batch_norm": True, "teacher_epochs": 40, "teacher_lr": 3e-3, "student_units": (32, 16),
             "student_epochs": 60, "prune_epochs": 10, "pqat_epochs": 3, "batch_size": 32, "latency_runs": 200,
             "seeds": (0, 1)},
    "quick": {"data": dict(TABULAR_DATA), "teacher_units": (64, 32), "teacher_dropout": 0.2,
              "teacher_batch_norm": True, "teacher_epochs": 4, "teacher_lr": 3e-3, "student_units": (32, 16),
              "student_epochs": 3, "prune_epochs": 1, "pqat_epochs": 1, "batch_size": 32, "latency_runs": 10,
              "seeds": (0,)},
}
KERAS_IO = {"alpha": 0.1, "temperature": 10.0, "learning_rate": 1e-3}


def _digits_data(cfg):
    from tfcompress import load_digits_data

    return load_digits_data()


def _digits_model(cfg, role, input_shape, num_classes):
    from tfcompress import build_cnn

    return build_cnn(input_shape, num_classes, filters=cfg[f"{role}_filters"], dense_units=cfg[f"{role}_dense"],
                     name=role)


def _digits_tag(cfg):
    return "x".join(str(f) for f in cfg["teacher_filters"]) + f"_d{cfg['teacher_dense']}_e{cfg['teacher_epochs']}"


def _tabular_data(cfg):
    from tfcompress.data import make_tabular_data

    return make_tabular_data(**cfg["data"])


def _tabular_model(cfg, role, input_shape, num_classes):
    from tfcompress import build_mlp

    if role == "teacher":
        return build_mlp(input_shape, num_classes, units=cfg["teacher_units"], dropout=cfg["teacher_dropout"],
                         batch_norm=cfg["teacher_batch_norm"], name=role)
    return build_mlp(input_shape, num_classes, units=cfg["student_units"], name=role)


def _tabular_tag(cfg):
    d = cfg["data"]
    return (f"n{d['n_samples']}_f{d['n_features']}_c{d['n_classes']}_"
            + "x".join(str(u) for u in cfg["teacher_units"]) + f"_do{cfg['teacher_dropout']}"
            + ("_bn" if cfg["teacher_batch_norm"] else "") + f"_e{cfg['teacher_epochs']}")


def _tabular_about(cfg, data):
    d = cfg["data"]
    return (f"Data: `make_tabular_data(n_samples={d['n_samples']}, n_features={d['n_features']}, "
            f"n_classes={d['n_classes']})` (scikit-learn make_classification, standardised): "
            f"{len(data['y_train']):,} / {len(data['y_val']):,} / {len(data['y_test']):,} train / val / test. "
            f"Teacher: MLP {tuple(cfg['teacher_units'])}"
            + (", BatchNorm" if cfg["teacher_batch_norm"] else "")
            + (f", dropout {cfg['teacher_dropout']}" if cfg["teacher_dropout"] else "")
            + f"; student of rows 3-4: MLP {tuple(cfg['student_units'])}.")


#: The tasks of ``--task``: ``data(cfg)`` returns the data dict (x/y of train, val, test); ``model(cfg, role,
#: input_shape, num_classes)`` builds the teacher (``role="teacher"``) or the small student of rows 3-4
#: (``role="student"``); ``tag(cfg)`` names the cached teacher; ``prefix`` starts the names of the cached teacher
#: and of the row-5 run folders in the workdir (the data go to ``<task>.npz``); ``output`` is the stem of the results
#: files; ``title`` heads the markdown and the plot; ``about(cfg, data)`` is an optional line under the markdown
#: heading; ``config`` holds the settings of "full" and "quick".
TASKS = {
    "digits": {"title": "digits", "data": _digits_data, "model": _digits_model, "tag": _digits_tag, "prefix": "",
               "output": "anchors", "about": None, "config": CONFIG},
    "tabular": {"title": "tabular", "data": _tabular_data, "model": _tabular_model, "tag": _tabular_tag,
                "prefix": "tabular_", "output": "anchors_tabular", "about": _tabular_about,
                "config": TABULAR_CONFIG},
}


def data_shape(data):
    """``(input_shape, num_classes)`` of a data dict."""
    import numpy as np

    return tuple(int(d) for d in np.asarray(data["x_train"]).shape[1:]), int(np.max(data["y_train"])) + 1


def gzip_size(path):
    with open(path, "rb") as fh:
        return len(gzip.compress(fh.read(), compresslevel=9))


def measure(model, data, cfg, fmt="int8"):
    """Convert and measure ``model`` as a ``.tflite`` file (params, bytes, gzip bytes, test accuracy, latency)."""
    from tfcompress.pipeline.measure import measure_model

    out = measure_model(model, data, fmt, latency_runs=cfg["latency_runs"])
    return {k: out.get(k) for k in ("format", "params", "tflite_bytes", "gzip_bytes", "accuracy", "split",
                                    "latency_median_us", "sparsity")}


def train_teacher(data, cfg, workdir, log, task="digits"):
    """Train (or load the cached) teacher of ``task``; return ``(model, path, train_seconds)``."""
    from tfcompress import Trainer, keras
    from tfcompress.fileio import save_model
    from tfcompress.fileio import load_model

    spec = TASKS[task]
    path = os.path.join(workdir, f"teacher_{spec['prefix']}{spec['tag'](cfg)}.keras")
    meta = path + ".json"
    if os.path.exists(path) and os.path.exists(meta):
        log(f"teacher: reusing {path}")
        with open(meta) as fh:
            return load_model(path), path, json.load(fh)["train_seconds"]
    keras.utils.set_random_seed(1234)
    teacher = spec["model"](cfg, "teacher", *data_shape(data))
    log(f"teacher: training {teacher.count_params():,} params for {cfg['teacher_epochs']} epochs")
    with common.Stopwatch() as sw:  # Trainer.fit: Adam with per-step cosine decay (tfcompress.distill.CosineDecay)
        Trainer(data, batch_size=cfg["batch_size"], learning_rate=cfg["teacher_lr"]).fit(teacher,
                                                                                        cfg["teacher_epochs"])
    save_model(teacher, path)
    common.write_json(meta, {"train_seconds": sw.seconds})
    return teacher, path, sw.seconds


def row_tfmot(teacher_path, data, cfg, seed=0):
    """Row 2: TFMOT polynomial magnitude pruning to 80% + prune-preserving QAT on the teacher, int8 (the QAT model
    itself: no fallback to post-training quantization)."""
    from tfcompress import Trainer, keras
    from tfcompress.fileio import load_model
    from tfcompress.prune import MagnitudePruning
    from tfcompress.quantize import PrunePreservingQAT

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)  # shuffling and QAT initialisation vary with the seed, as rows 3-5 do
    model = load_model(teacher_path)
    trainer = Trainer(data, batch_size=cfg["batch_size"], learning_rate=1e-3)
    with common.Stopwatch() as sw:
        pruned = MagnitudePruning(sparsity=0.8, epochs=cfg["prune_epochs"], schedule="polynomial",
                                  exclude=[]).apply(model, trainer)
        qat = PrunePreservingQAT(epochs=cfg["pqat_epochs"], ptq_fallback=False).apply(pruned, trainer)
    out = measure(qat, data, cfg)
    out["wall_s"] = sw.seconds
    return out


def make_student(cfg, seed, data, task="digits"):
    from tfcompress import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return TASKS[task]["model"](cfg, "student", *data_shape(data))


def row_keras_io(teacher, data, cfg, seed, task="digits"):
    """Row 3: the keras.io distillation example (alpha 0.1, T 10, Adam constant 1e-3), then int8 PTQ."""
    from tfcompress import keras
    from tfcompress.distill import Distiller

    student = make_student(cfg, seed, data, task)
    distiller = Distiller(student=student, teacher=teacher, alpha=KERAS_IO["alpha"],
                          temperature=KERAS_IO["temperature"])
    distiller.compile(optimizer=keras.optimizers.Adam(KERAS_IO["learning_rate"]), metrics=["accuracy"],
                      distillation_loss="kl")
    return fit_and_measure(distiller, student, data, cfg)


def row_scratch(data, cfg, seed, task="digits"):
    """Row 4: the same student trained on the labels alone (Adam constant 1e-3, same epochs), then int8 PTQ."""
    from tfcompress import keras

    student = make_student(cfg, seed, data, task)
    student.compile(optimizer=keras.optimizers.Adam(KERAS_IO["learning_rate"]),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return fit_and_measure(student, student, data, cfg)


def fit_and_measure(trainee, student, data, cfg):
    """Fit ``trainee`` (the student, or a Distiller around it) on the training split, timed; measure ``student``."""
    with common.Stopwatch() as sw:
        trainee.fit(data["x_train"], data["y_train"], batch_size=cfg["batch_size"], epochs=cfg["student_epochs"],
                    verbose=0)
    out = measure(student, data, cfg)
    out["wall_s"] = sw.seconds
    return out


def row_tfcompress(teacher_path, data_path, budget, cfg, seed, workdir, quick, log, task="digits"):
    """Row 5: ``tfcompress run recipe.yaml`` in a subprocess (default stages under ``budget`` bytes)."""
    from tfcompress.pipeline.recipe import to_yaml

    folder = os.path.join(workdir, f"{TASKS[task]['prefix']}run_seed{seed}" + ("_quick" if quick else ""))
    if os.path.isdir(folder):
        shutil.rmtree(folder)  # a fresh run each time: the wall time must include every stage
    os.makedirs(folder)
    recipe = {"teacher": os.path.abspath(teacher_path), "data": os.path.abspath(data_path), "output": "out",
              "seed": int(seed), "latency_runs": cfg["latency_runs"], "budget": {"max_bytes": int(budget)}}
    if quick:  # a smoke run: the default stages with tiny epoch counts
        recipe["stages"] = [{"search": {"max_trials": 2, "epochs": 1, "budget": {"max_bytes": int(budget)}}},
                            {"distill": {"epochs": 2}}, {"quantize": {"method": "qat", "epochs": 1}},
                            {"export": {"format": "int8"}}]
    recipe_path = os.path.join(folder, "recipe.yaml")
    common.write_text(recipe_path, to_yaml(recipe))
    exe = shutil.which("tfcompress")
    cmd = [exe] if exe else [sys.executable, "-m", "tfcompress.cli"]
    cmd += ["run", recipe_path, "--quiet"]
    log(f"row 5 seed {seed}: {' '.join(cmd)}")
    with common.Stopwatch() as sw:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"tfcompress run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    with open(os.path.join(folder, "out", "report.json")) as fh:
        report = json.load(fh)
    final = report["stages"][-1]["after"]
    out = {k: final.get(k) for k in ("format", "params", "tflite_bytes", "gzip_bytes", "accuracy", "split",
                                     "latency_median_us")}
    out["gzip_bytes"] = gzip_size(os.path.join(folder, "out", "model.tflite"))
    out["wall_s"] = sw.seconds
    out["pipeline_elapsed_s"] = report.get("elapsed_s")
    out["stages"] = [{"stage": r["stage"], "method": r.get("method"), "config": r.get("config"),
                      "elapsed_s": r.get("elapsed_s"), "accuracy": r["after"].get("accuracy"),
                      "params": r["after"].get("params"), "tflite_bytes": r["after"].get("tflite_bytes")}
                     for r in report["stages"]]
    search = next((r for r in report["stages"] if r["stage"] == "search"), None)
    if search is not None:
        out["searched"] = (search.get("report") or {}).get("best_hyperparameters")
    out["recipe"] = recipe
    return out


def mean_row(runs):
    """Mean of numeric fields over seeds; ``accuracy_seeds`` keeps each seed's accuracy."""
    out = {}
    for key in ("params", "tflite_bytes", "gzip_bytes", "accuracy", "latency_median_us", "wall_s"):
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = common.summarize(values)["mean"] if values else None
    out["accuracy_std"] = common.summarize([r["accuracy"] for r in runs])["std"]
    out["accuracy_seeds"] = [r["accuracy"] for r in runs]
    out["runs"] = runs
    return out


def _wins(mine, theirs):
    """``"2 wins, 1 tie, 2 losses"`` of paired per-seed accuracies."""
    pairs = list(zip(mine, theirs))
    won, tied = sum(a > b for a, b in pairs), sum(a == b for a, b in pairs)
    return f"{won} wins, {tied} ties, {len(pairs) - won - tied} losses"


def markdown(rows, n_seeds, budget, targets, n_test):
    headers = ["row", "params", ".tflite bytes", "gzip bytes", "test accuracy", "latency (us)", "wall time (s)"]
    body = []
    for r in rows:
        acc = f"{100 * r['accuracy']:.2f}%"
        if len(r.get("accuracy_seeds", [])) > 1:
            acc += " ± " + f"{100 * r['accuracy_std']:.2f}"
        lat = r.get("latency_median_us")
        body.append([r["label"], f"{int(round(r['params'])):,}", f"{int(round(r['tflite_bytes'])):,}",
                     f"{int(round(r['gzip_bytes'])):,}", acc, "n/a" if lat is None else f"{lat:.1f}",
                     f"{r['wall_s']:.1f}"])
    lines = [common.markdown_table(headers, body), "",
             f"Rows 2-5: mean ± std over {n_seeds} seed(s). Budget of row 5: {budget:,} bytes (row 4's int8 size). "
             f"Test split: {n_test:,} samples (1 sample = {100 / n_test:.2f} points). "
             "Latency: median batch-1 invoke, 1 thread.", "",
             "Targets:"]
    for name, t in targets.items():
        lines.append(f"- {name}: {'met' if t['met'] else 'MISSED'} ({t['detail']})")
    return "\n".join(lines)


def check_targets(rows, budget, max_seconds=600):
    by = {r["key"]: r for r in rows}
    t5 = by["tfcompress"]
    pp = lambda a, b: f"{100 * (a - b):+.2f} pt"  # noqa: E731
    targets = {
        "row 5 at most the small student's size": {
            "met": max(r["tflite_bytes"] for r in t5["runs"]) <= budget,
            "detail": f"{max(r['tflite_bytes'] for r in t5['runs']):,} B vs budget {budget:,} B"},
        "row 5 at least as accurate as TFMOT alone (row 2)": {
            "met": t5["accuracy"] >= by["tfmot"]["accuracy"],
            "detail": f"{pp(t5['accuracy'], by['tfmot']['accuracy'])}, row 2 is "
                      f"{by['tfmot']['tflite_bytes'] / t5['tflite_bytes']:.0f}x larger; seed by seed "
                      f"{_wins(t5['accuracy_seeds'], by['tfmot']['accuracy_seeds'])}"},
        "row 5 more accurate than keras.io KD (row 3)": {
            "met": t5["accuracy"] > by["keras_io"]["accuracy"],
            "detail": pp(t5["accuracy"], by["keras_io"]["accuracy"])},
        "row 5 more accurate than scratch (row 4)": {
            "met": t5["accuracy"] > by["scratch"]["accuracy"],
            "detail": pp(t5["accuracy"], by["scratch"]["accuracy"])},
        "tfcompress run within 10 minutes": {
            "met": max(r["wall_s"] for r in t5["runs"]) <= max_seconds,
            "detail": f"slowest seed {max(r['wall_s'] for r in t5['runs']):.0f} s"},
    }
    return targets


def plot(rows, path, title="digits"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfcompress.fileio import save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = "osD^vP"
    for i, r in enumerate(rows):
        runs = r.get("runs") or [r]
        xs = [x["tflite_bytes"] for x in runs]
        ys = [100 * x["accuracy"] for x in runs]
        if len(runs) > 1:
            ax.scatter(xs, ys, marker=markers[i % len(markers)], color=f"C{i}", alpha=0.35, s=25)
        ax.scatter([r["tflite_bytes"]], [100 * r["accuracy"]], marker=markers[i % len(markers)], color=f"C{i}",
                   s=70, label=r["label"], edgecolors="black")
    ax.set_xscale("log")
    ax.set_xlabel(".tflite bytes (log)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{title}: accuracy vs size, measured on .tflite files (LiteRT)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS), default="digits", help="task (see TASKS); default digits")
    parser.add_argument("--quick", action="store_true", help="smoke run (tiny teacher, few epochs, one seed)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds of rows 3-5")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tfcompress_anchors"),
                        help="cache of the teacher, the data and the row-5 runs")
    parser.add_argument("--output", default=RESULTS, help="results folder")
    args = parser.parse_args(argv)

    from tfcompress.data import save_npz

    def log(line):
        print(line, flush=True)

    task, spec = args.task, TASKS[args.task]
    mode = "quick" if args.quick else "full"
    cfg = dict(spec["config"][mode])
    seeds = tuple(args.seeds) if args.seeds else cfg["seeds"]
    os.makedirs(args.workdir, exist_ok=True)
    data = spec["data"](cfg)
    data_path = os.path.join(args.workdir, f"{task}.npz")
    save_npz(data_path, data)

    teacher, teacher_path, teacher_s = train_teacher(data, cfg, args.workdir, log, task)
    rows = []
    t_float, t_int8 = measure(teacher, data, cfg, "float"), measure(teacher, data, cfg, "int8")
    rows.append({"key": "teacher_float", "label": "1. teacher, float32", **t_float, "wall_s": teacher_s})
    rows.append({"key": "teacher_int8", "label": "1. teacher, int8 PTQ", **t_int8, "wall_s": teacher_s})
    log(f"row 1: float {t_float['accuracy']:.4f} {t_float['tflite_bytes']:,} B; int8 {t_int8['accuracy']:.4f} "
        f"{t_int8['tflite_bytes']:,} B")

    tfmot = [row_tfmot(teacher_path, data, cfg, s) for s in seeds]
    rows.append({"key": "tfmot", "label": "2. TFMOT: prune 80% + PQAT, int8", **mean_row(tfmot)})
    log(f"row 2: {[r['accuracy'] for r in tfmot]} {tfmot[0]['tflite_bytes']:,} B gzip {tfmot[0]['gzip_bytes']:,} B")

    kd = [row_keras_io(teacher, data, cfg, s, task) for s in seeds]
    rows.append({"key": "keras_io", "label": "3. keras.io KD (a 0.1, T 10), int8 PTQ", **mean_row(kd)})
    log(f"row 3: {[r['accuracy'] for r in kd]}")
    scratch = [row_scratch(data, cfg, s, task) for s in seeds]
    rows.append({"key": "scratch", "label": "4. same student from scratch, int8 PTQ", **mean_row(scratch)})
    log(f"row 4: {[r['accuracy'] for r in scratch]}")

    budget = int(scratch[0]["tflite_bytes"])
    runs = [row_tfcompress(teacher_path, data_path, budget, cfg, s, args.workdir, args.quick, log, task)
            for s in seeds]
    rows.append({"key": "tfcompress", "label": "5. tfcompress run (default stages, budget)", **mean_row(runs)})
    log(f"row 5: {[r['accuracy'] for r in runs]} {[r['tflite_bytes'] for r in runs]} "
        f"{[round(r['wall_s']) for r in runs]} s")

    targets = check_targets(rows, budget)
    suffix = ".quick" if args.quick else ""
    stem = spec["output"] + suffix
    result = {"benchmark": "anchors", "task": task, "mode": mode,
              "config": {**{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
                         "seeds": list(seeds), "keras_io": KERAS_IO},
              "budget_bytes": budget, "teacher_train_seconds": teacher_s, "rows": rows, "targets": targets,
              "environment": common.environment(),
              "notes": "wall_s: row 1 = teacher training; row 2 = pruning + PQAT; rows 3-4 = student training; "
                       "row 5 = the whole `tfcompress run` subprocess (measuring the teacher, every stage, "
                       "export, report). None of rows 2-5 includes the teacher's training."}
    common.write_json(os.path.join(args.output, f"{stem}.json"), result)
    about = spec["about"](cfg, data) + "\n\n" if spec["about"] else ""
    md = (f"# Beat the anchors ({spec['title']})\n\n" + about
          + markdown(rows, len(seeds), budget, targets, len(data["y_test"])))
    common.write_text(os.path.join(args.output, f"{stem}.md"), md)
    plot(rows, os.path.join(args.output, f"{stem}.png"), spec["title"])
    log(md)
    return result



if __name__ == "__main__":
    main()
