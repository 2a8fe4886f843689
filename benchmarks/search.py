"""Does the student search beat a hand-picked student of the same budget?  And what does a trial cost?

Task: scikit-learn digits (8x8x1).  One CNN teacher is trained on the labels.  Then, under one int8 size
budget (``--max-bytes``):

* ``searched``: ``search_student`` (KerasTuner oracle over the CNN family) runs ``--trials`` trials, each
  candidate distilled from the teacher for ``--epochs`` epochs (over-budget candidates rejected before any
  training); the best one is distilled ``--final-epochs`` more;
* ``hand-picked``: the reference CNN shrunk by hand to fit the same budget (filters (8, 16), dense 16),
  distilled from the same teacher with the same trainer for the same total epochs (``epochs + final_epochs``).

Both are measured on the held-out test split, as Keras models and as int8 ``.tflite`` files in the LiteRT
interpreter (bytes, accuracy, median batch-1 latency).  Timing: seconds per trial (training only, and wall
clock including conversion and latency measurement).  One seed: differences of a point or two are within noise.

Writes ``benchmarks/results/search.json``, ``search.md`` and ``search_pareto.png``.

Usage:
    python benchmarks/search.py            # default run (a few minutes on 2 cores)
    python benchmarks/search.py --quick    # smoke run (about a minute)
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py, next to this file)

from tfcompress._keras import keras  # noqa: E402
from tfcompress import export  # noqa: E402
from tfcompress.data import load_digits_data  # noqa: E402
from tfcompress.models import build_cnn  # noqa: E402
from tfcompress.search import Budget, plot_pareto, search_student  # noqa: E402
from tfcompress.train import Trainer, accuracy  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
HAND_PICKED = {"filters": (8, 16), "dense_units": 16}


def measure(model, data):
    """Keras and int8 test accuracy, params, int8 bytes and latency of a trained model."""
    tflite = export.convert(model, "int8", representative_data=data["x_train"][:300])
    latency = export.measure_latency(tflite, runs=200)
    return {"params": int(model.count_params()), "int8_bytes": len(tflite),
            "test_accuracy": accuracy(model, data["x_test"], data["y_test"]),
            "int8_test_accuracy": float(export.evaluate_tflite(tflite, data["x_test"], data["y_test"])),
            "latency_median_us": latency["median_us"], "latency_delegate": latency["delegate"]}


def run(args):
    data = load_digits_data()
    env = common.environment()
    keras.utils.set_random_seed(args.seed)
    teacher = build_cnn((8, 8, 1), 10, filters=(32, 64), dense_units=64, name="teacher")
    with common.Stopwatch() as sw_teacher:
        Trainer(data, learning_rate=3e-3).fit(teacher, args.teacher_epochs, validation=False)
    teacher_stats = measure(teacher, data)
    teacher_stats["train_seconds"] = sw_teacher.seconds

    trainer = Trainer(data, teacher=teacher, learning_rate=3e-3)
    budget = Budget(max_bytes=args.max_bytes)
    with common.Stopwatch() as sw_search, tempfile.TemporaryDirectory() as folder:
        result = search_student(trainer, teacher=teacher, family="cnn", max_trials=args.trials,
                                epochs=args.epochs, oracle=args.oracle, budget=budget,
                                final_epochs=args.final_epochs, seed=args.seed, directory=folder, overwrite=True)
    searched = measure(result.best_model, data)
    searched["hyperparameters"] = result.best_hyperparameters

    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    hand = build_cnn((8, 8, 1), 10, name="hand_picked", **HAND_PICKED)
    with common.Stopwatch() as sw_hand:
        trainer.fit(hand, args.epochs + args.final_epochs)
    hand_stats = measure(hand, data)
    hand_stats["hyperparameters"] = {k: list(v) if isinstance(v, tuple) else v for k, v in HAND_PICKED.items()}
    hand_stats["train_seconds"] = sw_hand.seconds

    done = result.completed
    per_trial = {
        "train_seconds": common.summarize([t["train_seconds"] for t in done]),
        "wall_seconds_per_trained_trial": sw_search.seconds / max(1, len(done)),
        "wall_seconds_per_candidate": sw_search.seconds / max(1, len(result.trials)),
        "search_wall_seconds": sw_search.seconds, "search_cpu_seconds": sw_search.cpu_seconds,
    }
    return {
        "config": vars(args), "environment": env, "budget": budget.get_config(), "teacher": teacher_stats,
        "searched": searched, "hand_picked": hand_stats, "timing": per_trial,
        "search": {k: v for k, v in result.to_dict().items() if k != "directory"},
        "fits_budget": {"searched": searched["int8_bytes"] <= args.max_bytes,
                        "hand_picked": hand_stats["int8_bytes"] <= args.max_bytes},
    }, result


def markdown(out, result):
    rows = []
    for name in ("teacher", "hand_picked", "searched"):
        s = out[name]
        rows.append([name, s["params"], s["int8_bytes"], f"{100 * s['test_accuracy']:.1f}",
                     f"{100 * s['int8_test_accuracy']:.1f}", f"{s['latency_median_us']:.1f}"])
    cfg, timing = out["config"], out["timing"]
    lines = [
        "# Student search vs a hand-picked student (digits, int8)", "",
        f"Budget: int8 file ≤ {cfg['max_bytes']} bytes. Oracle {cfg['oracle']}, {cfg['trials']} trained trials "
        f"(and {out['search']['rejected']} more candidates rejected by the budget before training), "
        f"{cfg['epochs']} distillation "
        f"epochs per trial, best student distilled {cfg['final_epochs']} more; the hand-picked student gets "
        f"the same {cfg['epochs'] + cfg['final_epochs']} epochs from the same teacher and trainer. Test split, "
        f"one seed ({cfg['seed']}). Latency: median of 200 batch-1 runs in the LiteRT interpreter on this host "
        f"({out['searched']['latency_delegate']}), a proxy only.", "",
        common.markdown_table(["model", "params", "int8 bytes", "Keras test acc %", "int8 test acc %",
                               "latency µs"], rows), "",
        f"Searched hyperparameters: `{out['searched']['hyperparameters']}`; hand-picked: "
        f"`{out['hand_picked']['hyperparameters']}`.", "",
        f"Time per trial: training {common.fmt_mean_std(timing['train_seconds'], digits=1)} s (mean ± std over "
        f"{timing['train_seconds']['n']} trained trials); wall clock "
        f"{timing['wall_seconds_per_trained_trial']:.1f} s per trained trial, everything included (rejected "
        f"candidates, conversions, latency; {timing['wall_seconds_per_candidate']:.1f} s per candidate drawn; "
        f"whole search {timing['search_wall_seconds']:.0f} s wall, "
        f"{timing['search_cpu_seconds']:.0f} s CPU, on a shared 2-core machine).", "",
        "## All trials (* = on the Pareto front of val accuracy vs int8 bytes)", "", result.markdown(), "",
    ]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 3 trials, 2 epochs, 2 final epochs")
    p.add_argument("--trials", type=int, default=None,
                   help="trained search trials. Defaults to 8 (3 with --quick).")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial. Defaults to 10 (2 with --quick).")
    p.add_argument("--final-epochs", type=int, default=None,
                   help="extra epochs of the best student. Defaults to 10 (2 with --quick).")
    p.add_argument("--teacher-epochs", type=int, default=None, help="Defaults to 20 (5 with --quick).")
    p.add_argument("--max-bytes", type=int, default=12000, help="int8 size budget. Defaults to 12000.")
    p.add_argument("--oracle", default="bayesian", choices=["random", "bayesian", "hyperband"],
                   help="Defaults to bayesian.")
    p.add_argument("--seed", type=int, default=0, help="Defaults to 0.")
    p.add_argument("--out", default=RESULTS, help="output folder. Defaults to benchmarks/results.")
    args = p.parse_args(argv)
    quick = args.quick
    for name, full, small in (("trials", 8, 3), ("epochs", 10, 2), ("final_epochs", 10, 2),
                              ("teacher_epochs", 20, 5)):
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    out, result = run(args)
    os.makedirs(args.out, exist_ok=True)
    common.write_json(os.path.join(args.out, "search.json"), out)
    common.write_text(os.path.join(args.out, "search.md"), markdown(out, result))
    plot_pareto(result, os.path.join(args.out, "search_pareto.png"))
    print(markdown(out, result))


if __name__ == "__main__":
    main()
