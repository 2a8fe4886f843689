"""Does the search pick the right student? Short-trial scores against fully distilled results, on the anchors task.

The default search (``tfcompress/pipeline/defaults.py``) ranks candidates by a short distillation (the trial);
the winner is then distilled for a long time. This script draws random candidates from the same CNN space
(``tfcompress.search.CNNSpace``: stages, filters per stage, kernel, separable, BatchNorm, dense head) whose
int8 file fills ``--min-fill`` to 100% of the anchors budget (10,216 B by default), and for each measures
(``separable`` is drawn for every input size, as the space did before this script's results made it plain
convolutions only for inputs of at most 16 pixels a side):

* the trial: ``--trial-epochs`` epochs of distillation at 1e-2 (as a search trial), validation accuracy;
* the final result: the default ``distill`` stage (120 epochs, shifted inputs), float validation and test
  accuracy.

It reports Spearman rank correlations of the trial score, the parameter count and the int8 size with the final
test accuracy, and the final accuracy of the candidate each selection rule would have picked. Writes
``benchmarks/results/search_quality.json`` and ``.md``.

Usage:
    python benchmarks/search_quality.py                  # 12 candidates (~10 min on 2 cores)
    python benchmarks/search_quality.py --quick          # smoke run
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def draw(rng):
    """Random ``build_cnn`` arguments from the CNN space's choices (tfcompress.search.spaces.CNNSpace)."""
    from tfcompress.search.spaces import CNNSpace

    space = CNNSpace((8, 8, 1), 10)
    stages = rng.randint(1, space.max_stages)
    return {"filters": tuple(rng.choice(space.filters) for _ in range(stages)),
            "kernel_size": rng.choice(space.kernel_sizes), "dense_units": rng.choice(space.dense_units),
            "separable": rng.random() < 0.5, "batch_norm": rng.random() < 0.5}


def candidates(n, budget, min_fill, data, seed=0, max_draws=2000):
    """``n`` distinct drawn architectures whose int8 file (as trained) fills ``min_fill``..1 of ``budget``."""
    from tfcompress import build_cnn, keras
    from tfcompress.search.measure import int8_bytes_as_trained

    rng, seen, out = random.Random(seed), set(), []
    for _ in range(max_draws):
        kwargs = draw(rng)
        key = repr(sorted(kwargs.items()))
        if key in seen:
            continue
        seen.add(key)
        keras.backend.clear_session()
        model = build_cnn((8, 8, 1), 10, name="student", **kwargs)
        if model.count_params() > budget:
            continue
        size = len(int8_bytes_as_trained(model, data["x_val"][:64]))
        if min_fill * budget <= size <= budget:
            out.append({"arch": kwargs, "params": int(model.count_params()), "int8_bytes": size})
            if len(out) == n:
                break
    return out


def train(teacher, data, arch, epochs, augment, seed):
    from tfcompress import Trainer, build_cnn, keras
    from tfcompress.distill import Distill

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_cnn((8, 8, 1), 10, name="student", **arch)
    Distill(epochs=epochs, augment=augment).apply(model, Trainer(data, teacher=teacher, batch_size=32))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return {s: float(model.evaluate(data[f"x_{s}"], data[f"y_{s}"], verbose=0)[1]) for s in ("val", "test")}


def spearman(a, b):
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main(argv=None):
    import anchors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int, default=12, help="candidates")
    parser.add_argument("--budget", type=int, default=10216, help="max int8 bytes (the anchors budget)")
    parser.add_argument("--min-fill", type=float, default=0.6)
    parser.add_argument("--trial-epochs", type=int, default=8)
    parser.add_argument("--final-epochs", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=os.path.join(anchors.tempfile.gettempdir(), "tfcompress_anchors"))
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.trial_epochs, args.final_epochs = 3, 1, 2

    from tfcompress import load_digits_data

    cfg = dict(anchors.CONFIG["quick" if args.quick else "full"])
    os.makedirs(args.workdir, exist_ok=True)
    data = load_digits_data()
    teacher, _, _ = anchors.train_teacher(data, cfg, args.workdir, print)
    rows = candidates(args.n, args.budget, args.min_fill, data, seed=args.seed)
    for i, row in enumerate(rows):
        row["trial_val"] = train(teacher, data, row["arch"], args.trial_epochs, None, args.seed)["val"]
        final = train(teacher, data, row["arch"], args.final_epochs, "shift", args.seed)
        row["final_val"], row["final_test"] = final["val"], final["test"]
        print(f"{i + 1}/{len(rows)} {row['arch']} params {row['params']} bytes {row['int8_bytes']}: trial val "
              f"{row['trial_val']:.4f}, final val {row['final_val']:.4f} test {row['final_test']:.4f}", flush=True)
    final = [r["final_test"] for r in rows]
    corr = {key: spearman([r[key] for r in rows], final) for key in ("trial_val", "final_val", "params",
                                                                      "int8_bytes")}
    picks = {
        "best trial val (search)": max(rows, key=lambda r: (r["trial_val"], -r["int8_bytes"])),
        "MnasNet reward of trial val": max(rows, key=lambda r: r["trial_val"] * (r["int8_bytes"] / args.budget)
                                           ** -0.07),
        "most parameters": max(rows, key=lambda r: r["params"]),
        "largest file": max(rows, key=lambda r: r["int8_bytes"]),
        "best final val (oracle on val)": max(rows, key=lambda r: r["final_val"]),
    }
    summary = {"spearman_vs_final_test": corr, "final_test_mean": common.summarize(final),
               "picks": {k: {"arch": v["arch"], "params": v["params"], "final_test": v["final_test"]}
                         for k, v in picks.items()}}
    suffix = ".quick" if args.quick else ""
    common.write_json(os.path.join(args.output, f"search_quality{suffix}.json"),
                      {"benchmark": "search_quality", "args": vars(args), "rows": rows, "summary": summary,
                       "environment": common.environment()})
    md = markdown(rows, summary, args)
    common.write_text(os.path.join(args.output, f"search_quality{suffix}.md"), md)
    print(md)


def markdown(rows, summary, args):
    arch = lambda a: (f"{'-'.join(map(str, a['filters']))} k{a['kernel_size']} d{a['dense_units']}"  # noqa: E731
                      f"{' sep' if a['separable'] else ''}{' bn' if a['batch_norm'] else ''}")
    body = [[arch(r["arch"]), f"{r['params']:,}", f"{r['int8_bytes']:,}", f"{100 * r['trial_val']:.2f}",
             f"{100 * r['final_val']:.2f}", f"{100 * r['final_test']:.2f}"]
            for r in sorted(rows, key=lambda r: -r["final_test"])]
    corr = summary["spearman_vs_final_test"]
    picks = [[k, arch(v["arch"]), f"{v['params']:,}", f"{100 * v['final_test']:.2f}"]
             for k, v in summary["picks"].items()]
    return "\n".join([
        "# Search quality: trial scores against distilled results (digits, anchors teacher)", "",
        f"{len(rows)} random candidates of the CNN space filling {args.min_fill:g}-1 of {args.budget:,} int8 "
        f"bytes; trial = {args.trial_epochs} epochs of distillation, final = {args.final_epochs} epochs "
        "(default distill stage, shifted inputs); float accuracies; test 450 samples (1 sample = 0.22 pt).", "",
        common.markdown_table(["candidate", "params", "int8 bytes", "trial val %", "final val %", "final test %"],
                              body), "",
        "Spearman correlation with the final test accuracy: " + ", ".join(
            f"{k} {v:+.2f}" for k, v in corr.items()) + ".", "",
        common.markdown_table(["selection rule", "picks", "params", "final test %"], picks)])


if __name__ == "__main__":
    main()
