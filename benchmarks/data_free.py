"""How much does a student lose when it is distilled without the training data?

Digits (scikit-learn, 8x8).  One teacher is trained on the training split (seed 0, cosine schedule).  Then, for
every seed, the same student architecture is trained four ways and measured on the held-out test split:

* ``data-free``: ``DataFreeDistiller`` (generator + DAFL losses + BatchNorm-statistics matching); no training data;
* ``data-free, no BN``: the same without BatchNorm-statistics matching (pure DAFL losses);
* ``distilled with data``: ``Distiller`` with the package defaults on the full training split;
* ``scratch, small subset``: cross-entropy on ``--labelled`` labelled training samples (balanced per class), the
  kind of small labelled set a user who cannot share the data might still label.

``--grid`` runs the one-at-a-time probe behind the ``DataFreeDistiller`` defaults (``bn_weight``, the student's
learning rate, ...) on the VALIDATION split, seed 0 (``data_free.grid.*``).

Usage:
    python benchmarks/data_free.py            # default run (about 8 minutes on 2 shared cores)
    python benchmarks/data_free.py --quick    # smoke run (about 1-2 minutes)
    python benchmarks/data_free.py --seeds 3
    python benchmarks/data_free.py --grid     # the validation probe behind the defaults (about 12 minutes)
    python benchmarks/data_free.py --render benchmarks/results/data_free.json   # rewrite the Markdown only
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py, next to this file)

from tfcompress._keras import keras  # noqa: E402
from tfcompress.data import load_digits_data  # noqa: E402
from tfcompress.distill import CosineDecay, Distiller  # noqa: E402
from tfcompress.distill.data_free import DataFreeDistiller  # noqa: E402
from tfcompress.models import build_cnn  # noqa: E402
from tfcompress.train import accuracy  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
BATCH_SIZE = 64


def teacher_model():
    return build_cnn((8, 8, 1), 10, filters=(16, 32), dense_units=32, name="teacher")


def student_model():
    return build_cnn((8, 8, 1), 10, filters=(8, 16), dense_units=16, name="student")


def train_teacher(data, epochs):
    keras.utils.set_random_seed(0)
    teacher = teacher_model()
    teacher.compile(optimizer=keras.optimizers.Adam(3e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], batch_size=BATCH_SIZE, epochs=epochs, callbacks=[CosineDecay()],
                verbose=0)
    return teacher


def balanced_subset(x, y, per_class, seed):
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
    return x[idx], y[idx]


def run_data_free(teacher, seed, args, bn_weight=None):
    keras.utils.set_random_seed(seed)
    student = student_model()
    options = {} if bn_weight is None else {"bn_weight": bn_weight}  # None: the package default
    dfd = DataFreeDistiller(student, teacher, synthetic_batch_size=args.synthetic_batch, **options)
    dfd.compile(optimizer=keras.optimizers.Adam(args.lr),
                generator_optimizer=keras.optimizers.Adam(args.generator_lr))
    with common.Stopwatch() as sw:
        history = dfd.fit(epochs=args.df_epochs, steps_per_epoch=args.steps, verbose=0).history
    return student, sw, {k: round(float(v[-1]), 4) for k, v in history.items()}


def run_with_data(teacher, data, seed, epochs):
    keras.utils.set_random_seed(seed)
    student = student_model()
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer=keras.optimizers.Adam(3e-3))
    with common.Stopwatch() as sw:
        distiller.fit(data["x_train"], data["y_train"], batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
    return student, sw


def run_scratch_subset(data, seed, per_class, epochs):
    keras.utils.set_random_seed(seed)
    x, y = balanced_subset(data["x_train"], data["y_train"], per_class, seed)
    student = student_model()
    student.compile(optimizer=keras.optimizers.Adam(3e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with common.Stopwatch() as sw:
        student.fit(x, y, batch_size=min(BATCH_SIZE, len(x)), epochs=epochs, callbacks=[CosineDecay()], verbose=0)
    return student, sw


#: One change at a time from the package defaults (bn_weight 3, student lr 1e-2, generator lr 1e-3, T 4).
GRID = [("defaults", {}), ("bn_weight 0 (pure DAFL)", {"bn_weight": 0.0}), ("bn_weight 1", {"bn_weight": 1.0}),
        ("student lr 3e-3", {"lr": 3e-3}), ("generator lr 1e-2", {"generator_lr": 1e-2}),
        ("temperature 1", {"temperature": 1.0}), ("adversarial_weight 0.1", {"adversarial_weight": 0.1}),
        ("entropy_weight 20", {"entropy_weight": 20.0})]


def run_grid(data, teacher, args):
    rows, records = [], []
    for label, change in GRID:
        options = dict(change)
        lr, glr = options.pop("lr", args.lr), options.pop("generator_lr", args.generator_lr)
        keras.utils.set_random_seed(0)
        student = student_model()
        dfd = DataFreeDistiller(student, teacher, synthetic_batch_size=args.synthetic_batch, **options)
        dfd.compile(optimizer=keras.optimizers.Adam(lr), generator_optimizer=keras.optimizers.Adam(glr))
        with common.Stopwatch() as sw:
            dfd.fit(epochs=args.df_epochs, steps_per_epoch=args.steps, verbose=0)
        acc = accuracy(student, data["x_val"], data["y_val"])
        records.append({"setting": label, "change": change, "val_accuracy": acc, "seconds": round(sw.seconds, 1)})
        rows.append([label, f"{acc * 100:.1f}"])
        print(f"grid {label:28s} val {acc:.4f} ({sw.seconds:.0f} s)", flush=True)
    steps = args.df_epochs * args.steps
    text = (f"# Data-free distillation: validation probe behind the defaults\n\n"
            f"{common.markdown_table(['setting (one change from the defaults)', 'val accuracy %'], rows)}\n\n"
            f"Digits validation split, seed 0, {steps} steps of {args.synthetic_batch} generated inputs, teacher "
            f"val {accuracy(teacher, data['x_val'], data['y_val']) * 100:.1f}%. One seed: differences under about "
            f"1 point are noise. Command: `python benchmarks/data_free.py --grid`.\n")
    common.write_json(args.out + ".grid.json", {"benchmark": "data_free.grid", "runs": records,
                                                "settings": vars(args), "environment": common.environment()})
    common.write_text(args.out + ".grid.md", text)
    print(text)


def render(result):
    """The Markdown report of a result dict (as written to ``data_free.json``)."""
    settings, summary, teacher_acc = result["settings"], result["summary"], result["teacher_test_accuracy"]
    labelled = settings["labelled"] * 10
    rows = [["teacher", f"{teacher_acc * 100:.1f}", "", "training split (all labels)"]]
    reads = {"data-free": "none (teacher only)", "data-free, no BN": "none (teacher only)",
             "distilled with data": "training split"}
    for v, stats in summary.items():
        rows.append([v, common.fmt_mean_std(stats, 100), f"{(stats['mean'] - teacher_acc) * 100:+.1f}",
                     reads.get(v, f"{labelled} labelled training samples")])
    table = common.markdown_table(["student", "test accuracy % (mean ± std)", "vs teacher (pts)", "data read"],
                                  rows)
    steps = settings["df_epochs"] * settings["steps"]
    text = (f"# Data-free distillation on digits\n\n{table}\n\n"
            f"Seeds: {settings['seeds']}. Teacher {settings['teacher_params']} parameters, student "
            f"{settings['student_params']}. Data-free: {steps} steps of {settings['synthetic_batch']} generated "
            f"inputs (student Adam {settings['lr']}, cosine; generator Adam {settings['generator_lr']}). With data: "
            f"{settings['kd_epochs']} epochs of the {settings['train_samples']}-sample training split. Scratch: "
            f"{settings['scratch_epochs']} epochs on {settings['labelled']} labels per class. Test split: "
            f"{settings['test_samples']} samples.\n")
    if "data-free" in summary and "distilled with data" in summary:
        free, full = summary["data-free"]["mean"], summary["distilled with data"]["mean"]
        text += (f"\nThe gap, honestly: without any training data the student reaches {free * 100:.1f}%, "
                 f"{(full - free) * 100:.1f} points below the same student distilled with the training split "
                 f"({full * 100:.1f}%)")
        scratch = next((k for k in summary if k.startswith("scratch")), None)
        if scratch:
            text += (f", and {(free - summary[scratch]['mean']) * 100:+.1f} points against training it from scratch "
                     f"on {labelled} labelled samples")
        text += ". "
        if "data-free, no BN" in summary:
            text += (f"BatchNorm-statistics matching is what makes it work here: the DAFL losses alone give "
                     f"{summary['data-free, no BN']['mean'] * 100:.1f}%. ")
        text += ("Caveats: digits is a tiny 8x8 task with a BatchNorm teacher; larger inputs were not measured "
                 "here (the DAFL and DeepInversion papers spend far more generator steps on them), and a teacher "
                 "without BatchNorm loses the strongest signal. Seconds in the JSON "
                 "are wall-clock on 2 cores shared with other jobs.\n")
    flags = " --quick" if settings.get("quick") else (f" --seeds {settings['seeds']}" if settings["seeds"] != 2 else "")
    text += f"\nCommand: `python benchmarks/data_free.py{flags}`.\n"
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--df-epochs", type=int, default=15, help="data-free epochs")
    parser.add_argument("--steps", type=int, default=50, help="data-free steps per epoch")
    parser.add_argument("--synthetic-batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-2, help="student learning rate (data-free)")
    parser.add_argument("--generator-lr", type=float, default=1e-3)
    parser.add_argument("--labelled", type=int, default=10, help="labelled samples per class for scratch")
    parser.add_argument("--no-ablation", action="store_true", help="skip the data-free run without BN matching")
    parser.add_argument("--grid", action="store_true", help="the validation probe behind the defaults")
    parser.add_argument("--render", metavar="JSON", help="rewrite the Markdown of an existing result and exit")
    parser.add_argument("--out", default=os.path.join(RESULTS, "data_free"))
    args = parser.parse_args(argv)
    if args.render:
        with open(args.render, encoding="utf-8") as f:
            result = json.load(f)
        text = render(result)
        common.write_text(os.path.splitext(args.render)[0] + ".md", text)
        print(text)
        return result
    teacher_epochs, kd_epochs, scratch_epochs = 30, 30, 100
    if args.quick:
        args.seeds, args.df_epochs, args.steps, args.no_ablation = 1, 4, 25, True
        teacher_epochs, kd_epochs, scratch_epochs = 10, 10, 40
        args.out += ".quick"

    data = load_digits_data()
    teacher = train_teacher(data, teacher_epochs)
    if args.grid:
        args.df_epochs = 12 if not args.quick else args.df_epochs
        return run_grid(data, teacher, args)
    teacher_acc = accuracy(teacher, data["x_test"], data["y_test"])
    print(f"teacher test accuracy {teacher_acc:.4f}", flush=True)
    variants = ["data-free", "data-free, no BN", "distilled with data", f"scratch, {args.labelled * 10} labels"]
    if args.no_ablation:
        variants.remove("data-free, no BN")
    runs = {v: [] for v in variants}
    for seed in range(args.seeds):
        for variant in variants:
            extra = {}
            if variant == "data-free":
                student, sw, extra = run_data_free(teacher, seed, args)
            elif variant == "data-free, no BN":
                student, sw, extra = run_data_free(teacher, seed, args, bn_weight=0.0)
            elif variant == "distilled with data":
                student, sw = run_with_data(teacher, data, seed, kd_epochs)
            else:
                student, sw = run_scratch_subset(data, seed, args.labelled, scratch_epochs)
            acc = accuracy(student, data["x_test"], data["y_test"])
            runs[variant].append({"seed": seed, "test_accuracy": acc, "seconds": round(sw.seconds, 1),
                                  "cpu_seconds": round(sw.cpu_seconds, 1), "final_losses": extra})
            print(f"seed {seed} {variant:24s} test {acc:.4f} ({sw.seconds:.0f} s)", flush=True)

    summary = {v: common.summarize([r["test_accuracy"] for r in rs]) for v, rs in runs.items()}
    result = {
        "benchmark": "data_free", "task": "digits 8x8", "teacher_test_accuracy": teacher_acc,
        "settings": {**vars(args), "teacher_epochs": teacher_epochs, "kd_epochs": kd_epochs,
                     "scratch_epochs": scratch_epochs, "teacher_params": int(teacher.count_params()),
                     "student_params": int(student_model().count_params()),
                     "train_samples": int(len(data["x_train"])), "test_samples": int(len(data["x_test"]))},
        "summary": summary, "runs": runs, "environment": common.environment(),
    }
    text = render(result)
    common.write_json(args.out + ".json", result)
    common.write_text(args.out + ".md", text)
    print(text)
    return result


if __name__ == "__main__":
    main()
