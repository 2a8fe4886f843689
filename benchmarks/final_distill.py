"""How to run the final distillation of the default pipeline: augmentation and length, on the anchors' task.

The default pipeline (``tfcompress/pipeline/defaults.py``) searches a student, then distils it for a long time.
This script keeps the students fixed — the three the default search picked in ``benchmarks/anchors.py``
(seeds 0-2) — and varies only the final ``distill`` stage, all else as in the defaults (Adam, peak 1e-2 with
per-step cosine decay, batch 32, T 2, alpha 0.1, the anchors' 636k-parameter teacher):

* ``none``: no augmentation; ``shift``: random one-pixel shifts (the previous default);
* ``shift+mixup a``: shifts, then mixup inside the batch with Beta(a, a) — teacher and student see the same
  blended input (``tfcompress.distill.augment``);
* each at 120 or 240 epochs.

Each (student, variant) pair is trained once per seed; accuracies are of the float Keras student on the
validation split (360) and the held-out test split (450). Variants are compared by the mean over students and
seeds and by the paired difference to ``shift`` at 120 epochs. Writes ``benchmarks/results/final_distill.json``
and ``.md``.

Usage:
    python benchmarks/final_distill.py                       # full grid (~30 min on 2 cores)
    python benchmarks/final_distill.py --quick               # smoke run
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

#: The students the default search picked in the anchors run (build_cnn arguments), one per anchors seed.
STUDENTS = {
    "s0: 4-16 k5": {"filters": (4, 16), "kernel_size": 5, "dense_units": 0},
    "s1: 32-8 k3": {"filters": (32, 8), "kernel_size": 3, "dense_units": 0},
    "s2: 16-16-4 k3 d16": {"filters": (16, 16, 4), "kernel_size": 3, "dense_units": 16},
}
#: Variants: (augment, mixup, epochs).
VARIANTS = {
    "none 120": (None, 0.0, 120),
    "shift 120": ("shift", 0.0, 120),
    "shift+mixup 0.4, 120": ("shift", 0.4, 120),
    "shift+mixup 1.0, 120": ("shift", 1.0, 120),
    "shift 240": ("shift", 0.0, 240),
    "shift+mixup 0.4, 240": ("shift", 0.4, 240),
    "shift+mixup 1.0, 240": ("shift", 1.0, 240),
}
BASELINE = "shift 120"


def run_one(teacher, data, student_kwargs, variant, seed, epochs_scale=1.0):
    from tfcompress import Trainer, build_cnn, keras
    from tfcompress.distill import Distill

    augment, mixup, epochs = VARIANTS[variant]
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    student = build_cnn((8, 8, 1), 10, batch_norm=True, name="student", **student_kwargs)
    trainer = Trainer(data, teacher=teacher, batch_size=32)
    stage = Distill(epochs=max(1, int(epochs * epochs_scale)), augment=augment, mixup=mixup)
    with common.Stopwatch() as sw:
        stage.apply(student, trainer)
    student.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    acc = {split: float(student.evaluate(data[f"x_{split}"], data[f"y_{split}"], verbose=0)[1])
           for split in ("val", "test")}
    return {**acc, "seconds": sw.seconds}


def main(argv=None):
    import anchors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs per variant, one seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--workdir", default=os.path.join(anchors.tempfile.gettempdir(), "tfcompress_anchors"))
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)

    from tfcompress import load_digits_data

    cfg = dict(anchors.CONFIG["quick" if args.quick else "full"])
    seeds = args.seeds[:1] if args.quick else args.seeds
    os.makedirs(args.workdir, exist_ok=True)
    data = load_digits_data()
    teacher, _, _ = anchors.train_teacher(data, cfg, args.workdir, print)
    rows = []
    for seed in seeds:  # seed outermost: a partial run already compares every variant
        for name, kwargs in STUDENTS.items():
            for variant in args.variants:
                out = run_one(teacher, data, kwargs, variant, seed, epochs_scale=0.02 if args.quick else 1.0)
                rows.append({"variant": variant, "student": name, "seed": seed, **out})
                print(f"{variant:24s} {name:22s} seed {seed}: val {out['val']:.4f} test {out['test']:.4f} "
                      f"({out['seconds']:.0f} s)", flush=True)
    summary = summarize(rows, args.variants)
    suffix = ".quick" if args.quick else ""
    common.write_json(os.path.join(args.output, f"final_distill{suffix}.json"),
                      {"benchmark": "final_distill", "seeds": seeds, "students": {k: {a: list(v) if isinstance(
                          v, tuple) else v for a, v in s.items()} for k, s in STUDENTS.items()},
                       "variants": {k: list(v) for k, v in VARIANTS.items()}, "rows": rows, "summary": summary,
                       "environment": common.environment()})
    md = markdown(summary, len(STUDENTS), seeds)
    common.write_text(os.path.join(args.output, f"final_distill{suffix}.md"), md)
    print(md)


def summarize(rows, variants):
    base = {(r["student"], r["seed"]): r for r in rows if r["variant"] == BASELINE}
    out = []
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        line = {"variant": variant}
        for split in ("val", "test"):
            line[split] = common.summarize([r[split] for r in mine])
            diffs = [r[split] - base[(r["student"], r["seed"])][split] for r in mine
                     if (r["student"], r["seed"]) in base]
            line[f"{split}_vs_base"] = common.summarize(diffs) if diffs else None
        line["seconds"] = common.summarize([r["seconds"] for r in mine])["median"]
        out.append(line)
    return out


def markdown(summary, n_students, seeds):
    def pct(s):
        return "n/a" if s is None else f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"

    def diff(s):
        return "n/a" if s is None else f"{100 * s['mean']:+.2f}"

    body = [[s["variant"], pct(s["val"]), diff(s["val_vs_base"]), pct(s["test"]), diff(s["test_vs_base"]),
             f"{s['seconds']:.0f}"] for s in summary]
    return "\n".join([
        "# Final distillation: augmentation and length (digits, anchors teacher)", "",
        common.markdown_table(["variant", "val accuracy", f"val vs {BASELINE}", "test accuracy",
                               f"test vs {BASELINE}", "median s"], body), "",
        f"Mean ± std over {n_students} students x {len(seeds)} seed(s) (seeds {', '.join(map(str, seeds))}); "
        "float Keras students; val 360 samples, test 450 (1 sample = 0.22 pt). Differences are paired "
        f"(same student and seed) against `{BASELINE}`, the previous default."])


if __name__ == "__main__":
    main()
