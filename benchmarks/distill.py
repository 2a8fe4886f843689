"""Does distillation beat training the student alone?  And what does a distillation epoch cost?

Two tasks (scikit-learn digits with CNNs; a synthetic tabular task with MLPs).  For each task one teacher is
trained well (seed 0, cosine schedule); then, for every seed, the same student (same initial weights) is trained
three ways with the same epochs, batch size, optimizer (Adam) and per-step cosine schedule, only the loss differs:

* ``scratch``: cross-entropy on the labels;
* ``logit KD``: ``Distiller`` with the package defaults (``tfcompress/distill/defaults.py``);
* ``feature KD``: ``FeatureDistiller`` with the same defaults plus hint losses.

Test accuracy is reported as mean ± standard deviation over seeds, with the mean paired gain over scratch.
``--grid`` runs the search that chose the defaults, on the VALIDATION split only (``distill.grid.*``).

``--user-settings`` (``distill.user.*``): a reader of the keras.io example keeps their own optimizer. Per task and
seed, the student trained alone with ``Adam(1e-3)`` at a constant rate, 15 epochs, batch 64; ``Distiller`` at its
defaults compiled with the same ``Adam(1e-3)`` (used as given); and ``Distiller`` at the settings the README
recommends (``compile()`` without an optimizer: Adam 1e-2 with per-step cosine decay), same epochs and batch.

Timing (digits, the training set tiled to a few thousand samples so that an epoch is long enough to time):
epochs of the student alone, of the ``Distiller`` without the teacher cache, of the ``Distiller`` with it, and
one teacher inference pass; the variants run interleaved, one epoch each per round, medians over rounds.

Usage:
    python benchmarks/distill.py            # default run (about 9 minutes on 2 shared cores)
    python benchmarks/distill.py --quick    # one-minute smoke run
    python benchmarks/distill.py --seeds 5
    python benchmarks/distill.py --grid     # the validation grid behind the defaults
    python benchmarks/distill.py --user-settings --seeds 3   # the user's Adam(1e-3) against the student alone
"""

import argparse
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py, next to this file)

from tfcompress._keras import keras  # noqa: E402
from tfcompress.data import load_digits_data, make_tabular_data  # noqa: E402
from tfcompress.distill import CosineDecay, Distiller, FeatureDistiller, defaults  # noqa: E402
from tfcompress.models import build_cnn, build_mlp  # noqa: E402
from tfcompress.train import accuracy  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
BATCH_SIZE = 64

TASKS = {
    "digits": {
        "data": lambda: load_digits_data(),
        "teacher": lambda: build_cnn((8, 8, 1), 10, filters=(32, 64, 128), dense_units=128, pooling="flatten",
                                     name="teacher"),
        "student": lambda: build_cnn((8, 8, 1), 10, filters=(8, 16), dense_units=16, pooling="flatten",
                                     name="student"),
        "models": "CNN teacher filters (32, 64, 128), dense 128; CNN student filters (8, 16), dense 16; "
                  "both flatten the last feature map",
        "teacher_epochs": 40,
        "lr": 1e-2,  # best scratch val of 1e-3, 3e-3, 1e-2, 3e-2 (see distill.grid.md)
        "feature_pairs": [("relu1", "relu1")],
    },
    "tabular": {
        "data": lambda: make_tabular_data(),
        "teacher": lambda: build_mlp((24,), 5, units=(256, 256), dropout=0.3, name="teacher"),
        "student": lambda: build_mlp((24,), 5, units=(16,), name="student"),
        "models": "MLP teacher (256, 256) with dropout 0.3; MLP student (16,)",
        "teacher_epochs": 60,
        "lr": 3e-2,  # best scratch val of 1e-3, 3e-3, 1e-2, 3e-2, 1e-1 (see distill.grid.md)
        "feature_pairs": [("relu0", "relu1")],
    },
}


def settings(epochs=30, lr=1e-2, temperature=None, alpha=None, loss=None, feature_weight=None):
    """Training settings of one student run; ``None`` means the package default."""
    return {
        "epochs": epochs, "lr": lr,
        "temperature": defaults.TEMPERATURE if temperature is None else temperature,
        "alpha": defaults.ALPHA if alpha is None else alpha,
        "loss": defaults.LOSS if loss is None else loss,
        "feature_weight": defaults.FEATURE_WEIGHT if feature_weight is None else feature_weight,
    }


def train_teacher(task, data):
    keras.utils.set_random_seed(0)
    teacher = TASKS[task]["teacher"]()
    teacher.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], batch_size=BATCH_SIZE, epochs=TASKS[task]["teacher_epochs"],
                callbacks=[CosineDecay()], verbose=0)
    return teacher


def train_student(task, data, teacher, method, seed, cfg):
    """Train a fresh student (initial weights fixed by ``seed``) by ``method``; return val and test accuracy."""
    keras.utils.set_random_seed(seed)
    student = TASKS[task]["student"]()
    optimizer = keras.optimizers.Adam(cfg["lr"])
    if method == "scratch":
        student.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        trainee = student
        callbacks = [CosineDecay()]
    else:
        common_args = dict(student=student, teacher=teacher, temperature=cfg["temperature"], alpha=cfg["alpha"])
        if method == "feature":
            trainee = FeatureDistiller(layer_pairs=TASKS[task]["feature_pairs"], feature_weight=cfg["feature_weight"],
                                       **common_args)
        else:
            trainee = Distiller(**common_args)
        trainee.compile(optimizer=optimizer, distillation_loss=cfg["loss"])  # adds the cosine schedule itself
        callbacks = []
    trainee.fit(data["x_train"], data["y_train"], batch_size=BATCH_SIZE, epochs=cfg["epochs"], callbacks=callbacks,
                verbose=0)
    return {"val": accuracy(student, data["x_val"], data["y_val"]),
            "test": accuracy(student, data["x_test"], data["y_test"])}


# ---------------------------------------------------------------------------------------------- accuracy
def accuracy_benchmark(tasks, seeds, epochs):
    methods = ["scratch", "logit", "feature"]
    out = {"settings": settings(epochs=epochs), "seeds": list(seeds), "tasks": {}}
    for task in tasks:
        cfg = settings(epochs=epochs, lr=TASKS[task]["lr"])
        data = TASKS[task]["data"]()
        teacher = train_teacher(task, data)
        runs = {m: [] for m in methods}
        for seed in seeds:
            for m in methods:
                runs[m].append(train_student(task, data, teacher, m, seed, cfg))
                print(f"[{task}] seed {seed} {m:8s} val {runs[m][-1]['val']:.4f} test {runs[m][-1]['test']:.4f}",
                      flush=True)
        res = {"lr": cfg["lr"], "models": TASKS[task]["models"], "test_samples": len(data["y_test"]),
               "teacher_test": accuracy(teacher, data["x_test"], data["y_test"]),
               "student_params": TASKS[task]["student"]().count_params(),
               "teacher_params": teacher.count_params(), "methods": {}}
        for m in methods:
            test = [r["test"] for r in runs[m]]
            gain = [a["test"] - b["test"] for a, b in zip(runs[m], runs["scratch"])]
            res["methods"][m] = {"test": common.summarize(test), "val": common.summarize([r["val"] for r in runs[m]]),
                                 "gain_vs_scratch": common.summarize(gain), "runs": runs[m],
                                 "wins": sum(g > 0 for g in gain), "ties": sum(g == 0 for g in gain)}
        out["tasks"][task] = res
        keras.backend.clear_session()
    return out


def grid_benchmark(tasks, seeds, epochs, lrs, temperatures, alphas, losses, feature_weights=()):
    """Validation accuracy of scratch and logit KD over a grid (the test split is not looked at).

    ``feature_weights`` adds feature-KD rows at the first temperature, alpha and loss of the grid.
    """
    out = {"seeds": list(seeds), "epochs": epochs, "tasks": {}}
    for task in tasks:
        data = TASKS[task]["data"]()
        teacher = train_teacher(task, data)
        rows = []
        for lr in lrs:
            configs = [("scratch", {})] + [("logit", dict(temperature=t, alpha=a, loss=loss))
                                           for t, a, loss in itertools.product(temperatures, alphas, losses)]
            configs += [("feature", dict(temperature=temperatures[0], alpha=alphas[0], loss=losses[0],
                                         feature_weight=w)) for w in feature_weights]
            for method, g in configs:
                cfg = settings(epochs=epochs, lr=lr, **g)
                val = [train_student(task, data, teacher, method, s, cfg)["val"] for s in seeds]
                rows.append({"method": method, "lr": lr, **g, "val": val})
                print(task, rows[-1], flush=True)
        out["tasks"][task] = {"teacher_val": accuracy(teacher, data["x_val"], data["y_val"]), "rows": rows,
                              "models": TASKS[task]["models"]}
        keras.backend.clear_session()
    return out


# ---------------------------------------------------------------------------------------------- user settings
USER = {"lr": 1e-3, "epochs": 15}
USER_METHODS = {"scratch": "student alone, Adam(1e-3) constant",
                "distill_user": "Distiller defaults, compile(optimizer=Adam(1e-3))",
                "distill_recommended": "Distiller defaults, compile() (Adam 1e-2, cosine decay)"}


def train_user(task, data, teacher, method, seed, epochs):
    """One student trained the way a user would (``method`` of ``USER_METHODS``); val and test accuracy."""
    keras.utils.set_random_seed(seed)
    student = TASKS[task]["student"]()
    if method == "scratch":
        student.compile(optimizer=keras.optimizers.Adam(USER["lr"]),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        trainee = student
    else:
        trainee = Distiller(student=student, teacher=teacher)
        trainee.compile(optimizer=keras.optimizers.Adam(USER["lr"]) if method == "distill_user" else None)
    trainee.fit(data["x_train"], data["y_train"], batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
    return {"val": accuracy(student, data["x_val"], data["y_val"]),
            "test": accuracy(student, data["x_test"], data["y_test"])}


def user_benchmark(tasks, seeds, epochs):
    out = {"seeds": list(seeds), "epochs": epochs, "batch_size": BATCH_SIZE, "tasks": {}}
    for task in tasks:
        data = TASKS[task]["data"]()
        teacher = train_teacher(task, data)
        runs = {m: [train_user(task, data, teacher, m, s, epochs) for s in seeds] for m in USER_METHODS}
        res = {"teacher_test": accuracy(teacher, data["x_test"], data["y_test"]), "models": TASKS[task]["models"],
               "test_samples": len(data["y_test"]), "methods": {}}
        for m, r in runs.items():
            gain = [a["test"] - b["test"] for a, b in zip(r, runs["scratch"])]
            res["methods"][m] = {"test": common.summarize([x["test"] for x in r]), "runs": r,
                                 "gain_vs_scratch": common.summarize(gain), "wins": sum(g > 0 for g in gain)}
            print(f"[{task}] {m}: test {np.mean([x['test'] for x in r]):.4f}", flush=True)
        out["tasks"][task] = res
        keras.backend.clear_session()
    return out


def user_markdown(result):
    lines = ["# Distillation at the user's settings\n",
             f"Test accuracy (%), mean ± std over seeds {result['seeds']}; {result['epochs']} epochs, batch "
             f"{result['batch_size']}; the same initial student weights per seed. Gain = paired difference to the "
             "student trained alone.\n"]
    rows = []
    for task, res in result["tasks"].items():
        for m, r in res["methods"].items():
            g = r["gain_vs_scratch"]
            rows.append([task, USER_METHODS[m], common.fmt_mean_std(r["test"], 100, 2),
                         "" if m == "scratch" else f"{g['mean'] * 100:+.2f} ({r['wins']}/{g['n']} seeds won)",
                         f"{res['teacher_test'] * 100:.2f}"])
    lines.append(common.markdown_table(["task", "student", "test acc", "gain vs alone (pt)", "teacher test acc"],
                                       rows))
    lines += [""] + [f"- {task}: {res['models']}; one test sample = {100 / res['test_samples']:.2f} pt."
                     for task, res in result["tasks"].items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- timing
def timing_benchmark(rounds, min_samples):
    data = TASKS["digits"]["data"]()
    teacher = train_teacher("digits", {**data})
    reps = max(1, int(np.ceil(min_samples / len(data["x_train"]))))
    x, y = np.tile(data["x_train"], (reps, 1, 1, 1)), np.tile(data["y_train"], reps)

    keras.utils.set_random_seed(0)
    student = TASKS["digits"]["student"]()
    student.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    distillers = {}
    for name, cache in (("distill_no_cache", False), ("distill_cache", "auto")):
        d = Distiller(student=TASKS["digits"]["student"](), teacher=teacher, cache_teacher=cache)
        d.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
        distillers[name] = d

    def one_epoch(model, callbacks):
        timer = common.epoch_timer()
        with common.Stopwatch() as sw:
            model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, callbacks=[timer] + callbacks, verbose=0)
        # the teacher cache costs one teacher pass per fit call, outside the epoch: recorded as cache set-up
        return (timer.times[0], timer.cpu_times[0]), (sw.seconds - timer.times[0], sw.cpu_seconds - timer.cpu_times[0])

    def teacher_pass():
        with common.Stopwatch() as sw:
            teacher.predict(x, batch_size=BATCH_SIZE, verbose=0)
        return sw.seconds, sw.cpu_seconds

    keys = ("student", "teacher_pass", "distill_no_cache", "distill_cache", "cache_setup")
    wall, cpu = {k: [] for k in keys}, {k: [] for k in keys}
    for r in range(rounds + 1):  # round 0 traces the functions and is discarded
        sample = {"student": one_epoch(student, [CosineDecay()])[0], "teacher_pass": teacher_pass(),
                  "distill_no_cache": one_epoch(distillers["distill_no_cache"], [])[0]}
        sample["distill_cache"], sample["cache_setup"] = one_epoch(distillers["distill_cache"], [])
        if r > 0:
            for k, (w, c) in sample.items():
                wall[k].append(w)
                cpu[k].append(c)
    out = {"samples_per_epoch": len(x), "batch_size": BATCH_SIZE, "rounds": rounds, "target": 1.15}
    for clock, times in (("wall", wall), ("cpu", cpu)):
        m = {k: float(np.median(v)) for k, v in times.items()}
        out[clock] = {"seconds": {k: common.summarize(v) for k, v in times.items()},
                      "ratio_no_cache_vs_limit": m["distill_no_cache"] / (m["student"] + m["teacher_pass"]),
                      "ratio_cache_vs_student": m["distill_cache"] / m["student"]}
    return out


# ---------------------------------------------------------------------------------------------- report
NAMES = {"scratch": "scratch", "logit": "logit KD", "feature": "feature KD"}


def markdown(result):
    acc, tim = result["accuracy"], result["timing"]
    s = acc["settings"]
    lines = ["# Distillation benchmark\n"]
    if result.get("quick"):
        lines.append("**Smoke run (--quick): teachers and students barely trained; the numbers mean nothing.**\n")
    lines.append(f"Test accuracy (%), mean ± std over seeds {acc['seeds']}; {s['epochs']} epochs, Adam at the task's "
                 f"peak rate (the best for scratch on val), per-step cosine decay, batch {BATCH_SIZE}; KD: "
                 f"T={s['temperature']:g}, alpha={s['alpha']:g}, loss={s['loss']}, "
                 f"feature weight={s['feature_weight']:g} (package defaults, chosen on the validation split: "
                 "distill.grid.md). Gain = paired difference to scratch (same seed, same initial student weights).\n")
    rows = []
    for task, res in acc["tasks"].items():
        for m, r in res["methods"].items():
            gain = "" if m == "scratch" else (f"{r['gain_vs_scratch']['mean'] * 100:+.2f} "
                                              f"({r['wins']} wins, {r['ties']} ties of {r['test']['n']})")
            rows.append([task, f"{res['lr']:g}", NAMES[m], common.fmt_mean_std(r["test"], 100, 2), gain,
                         f"{res['teacher_test'] * 100:.2f}", f"{res['student_params']} / {res['teacher_params']}"])
    lines.append(common.markdown_table(["task", "peak lr", "method", "test acc", "gain vs scratch (pt)",
                                        "teacher test acc", "params student / teacher"], rows))
    bullets = [f"- {task} models: {res['models']}." for task, res in acc["tasks"].items() if res.get("models")]
    for task, res in acc["tasks"].items():
        for m, r in res["methods"].items():
            if m != "scratch":
                g = r["gain_vs_scratch"]
                verdict = "beats" if g["mean"] > 0 else "does NOT beat"
                bullets.append(f"- {task}: {NAMES[m]} {verdict} scratch on test: mean paired gain "
                               f"{g['mean'] * 100:+.2f} pt (std {g['std'] * 100:.2f}, {r['wins']}/{g['n']} seeds won; "
                               f"one test sample = {100 / res.get('test_samples', float('nan')):.2f} pt).")
    lines += [""] + bullets
    lines += ["", f"Epoch time (ms, median of {tim['rounds']} interleaved rounds; digits, {tim['samples_per_epoch']} "
                  f"samples per epoch, batch {tim['batch_size']}). CPU = this process's CPU time (steady on a shared "
                  "machine); wall = elapsed time (includes waiting for a core while other jobs run).\n"]
    rows = []
    for clock in ("cpu", "wall"):
        t = tim[clock]
        ms = {k: v["median"] * 1000 for k, v in t["seconds"].items()}
        rows += [[clock, "student alone (plain fit)", f"{ms['student']:.0f}", "", ""],
                 [clock, "teacher inference pass (predict)", f"{ms['teacher_pass']:.0f}", "", ""],
                 [clock, "Distiller, no cache", f"{ms['distill_no_cache']:.0f}",
                  f"{ms['student'] + ms['teacher_pass']:.0f}",
                  f"{t['ratio_no_cache_vs_limit']:.2f}x (target <= {tim['target']:.2f}x)"],
                 [clock, "Distiller, teacher cache", f"{ms['distill_cache']:.0f}", f"{ms['student']:.0f}",
                  f"{t['ratio_cache_vs_student']:.2f}x (target <= {tim['target']:.2f}x)"],
                 [clock, "cache set-up (once per fit call)", f"{ms['cache_setup']:.0f}", "", ""]]
    lines.append(common.markdown_table(["clock", "measurement", "ms", "limit (ms)", "ratio"], rows))
    return "\n".join(lines) + "\n"


def grid_markdown(grid):
    lines = [f"# Distillation grid (validation accuracy %, mean over seeds {grid['seeds']}, {grid['epochs']} epochs)\n"]
    for task, res in grid["tasks"].items():
        lines.append(f"\n## {task} (teacher val {res['teacher_val'] * 100:.2f})\n")
        rows = [[r.get("student", ""), r["method"], f"{r['lr']:g}", r.get("temperature", ""), r.get("alpha", ""),
                 r.get("loss", ""), r.get("feature_weight", ""), f"{np.mean(r['val']) * 100:.2f}"]
                for r in sorted(res["rows"], key=lambda r: (r.get("student", ""), -np.mean(r["val"])))]
        lines.append(common.markdown_table(["student", "method", "lr", "T", "alpha", "loss", "feature w", "val acc"],
                                           rows))
    if grid.get("note"):
        lines += ["", f"Note: {grid['note']}"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one-minute smoke run (few epochs, one seed)")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds. Defaults to 5.")
    p.add_argument("--epochs", type=int, default=None, help="student epochs. Defaults to 30 (3 with --quick).")
    p.add_argument("--grid", action="store_true", help="run the validation grid behind the defaults instead")
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks. Defaults to all.")
    p.add_argument("--lrs", default="1e-3", help="--grid: comma-separated learning rates. Defaults to 1e-3.")
    p.add_argument("--temperatures", default="1,2,4", help="--grid: temperatures. Defaults to 1,2,4.")
    p.add_argument("--alphas", default="0,0.1,0.5", help="--grid: alphas. Defaults to 0,0.1,0.5.")
    p.add_argument("--losses", default="kl,standardized_kl,dkd", help="--grid: losses. Defaults to all three.")
    p.add_argument("--feature-weights", default="", help="--grid: feature-KD weights to try. Defaults to none.")
    p.add_argument("--user-settings", action="store_true",
                   help="the user's Adam(1e-3), 15 epochs: Distiller against the student alone (distill.user.*)")
    p.add_argument("--out", default=RESULTS, help="output folder. Defaults to benchmarks/results.")
    args = p.parse_args(argv)
    seeds = range(1 if args.quick else args.seeds)
    tasks = [t for t in args.tasks.split(",") if t]
    epochs = args.epochs or (3 if args.quick else 30)
    if args.quick:
        for t in TASKS.values():
            t["teacher_epochs"] = 3
    if args.user_settings:
        result = user_benchmark(tasks, list(seeds), args.epochs or (2 if args.quick else USER["epochs"]))
        result["environment"] = common.environment()
        name = "distill.user.quick" if args.quick else "distill.user"
        common.write_json(os.path.join(args.out, f"{name}.json"), result)
        text = user_markdown(result)
        common.write_text(os.path.join(args.out, f"{name}.md"), text)
        print(text)
        return
    if args.grid:
        floats = lambda text: [float(v) for v in text.split(",") if v]  # noqa: E731
        grid = grid_benchmark(tasks, [100 + s for s in seeds], epochs, floats(args.lrs), floats(args.temperatures),
                              floats(args.alphas), [v for v in args.losses.split(",") if v],
                              floats(args.feature_weights))
        grid["environment"] = common.environment()
        tag = "" if len(tasks) == len(TASKS) else "." + "_".join(tasks)
        common.write_json(os.path.join(args.out, f"distill.grid{tag}.json"), grid)
        text = grid_markdown(grid)
        common.write_text(os.path.join(args.out, f"distill.grid{tag}.md"), text)
        print(text)
        return
    result = {"accuracy": accuracy_benchmark(tasks, seeds, epochs),
              "timing": timing_benchmark(rounds=2 if args.quick else 5, min_samples=1000 if args.quick else 8000),
              "quick": args.quick, "environment": common.environment()}
    name = "distill.quick" if args.quick else "distill"
    common.write_json(os.path.join(args.out, f"{name}.json"), result)
    text = markdown(result)
    common.write_text(os.path.join(args.out, f"{name}.md"), text)
    print(text)


if __name__ == "__main__":
    main()
