"""What does each compression technique, and each sensible combination, buy on one trained model?

Task: scikit-learn digits (8x8x1).  One CNN (``build_cnn``, filters (32, 64), dense 128, about 150k parameters)
is trained on the labels with a per-step cosine schedule; it is the *uncompressed* reference.  Every technique
starts from that same trained model and is fine-tuned with the same ``Trainer`` (plain cross-entropy, or with
``--teacher`` distilled from the reference) for ``--epochs`` epochs per stage:

* pruning: TFMOT magnitude 80 %, 2:4 structured, gradient (Taylor) 80 %, channel pruning keeping 50 %;
* weight clustering (16 clusters, k-means++); low-rank SVD and PCA factorization to a 25 % parameter budget;
* quantization: post-training int8 of every model above, quantization-aware training (QAT) of the reference;
* combinations: magnitude pruning + prune-preserving QAT, clustering + cluster-preserving QAT, SVD + QAT,
  channel pruning + QAT (the second stage starts from the first stage's model: twice the fine-tuning epochs).

Every row is measured on the exported ``.tflite`` file: parameters and non-zero parameters (of the Keras model
that was converted, quantizer variables not counted), file bytes, gzip bytes, test accuracy in the LiteRT
interpreter, and batch-1 latency (median over ``--repeats`` interleaved rounds of the median of 200 invocations,
one thread, with the default XNNPACK delegate and with the builtin kernels), with ratios against the float
``.tflite`` of the uncompressed model from the same run.  One seed: the test split holds 450 digits, so one
sample is 0.22 points and the binomial standard error of an accuracy near 99 % is about 0.5 points.

``--strength strong`` leaves each technique about 6 % of the weights (95 % sparsity, 25 % of the channels, 4
clusters, SVD/PCA to 6 % of the parameters): in the committed default run every row of this easy task stayed
within about a point of the reference; the strong settings show which technique loses accuracy first.

Writes ``benchmarks/results/compress.json`` and ``compress.md`` (``compress.quick.*`` with ``--quick``,
``compress.teacher.*`` with ``--teacher``, ``compress.strong.*`` with ``--strength strong``).

Usage:
    python benchmarks/compress.py            # default run (~115 s CPU; 7-12 min wall on a busy 2-core host)
    python benchmarks/compress.py --quick    # smoke run (~80 s CPU; 2.5-4.5 min wall on a busy 2-core host)
    python benchmarks/compress.py --teacher  # fine-tune every stage distilled from the reference model
    python benchmarks/compress.py --strength strong
"""

import argparse
import os
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py, next to this file)

from tfcompress._keras import keras  # noqa: E402
from tfcompress import export  # noqa: E402
from tfcompress.data import load_digits_data  # noqa: E402
from tfcompress.lowrank import PCAFactorize, SVDFactorize  # noqa: E402
from tfcompress.models import build_cnn  # noqa: E402
from tfcompress.prune import ChannelPruning, GradientPruning, MagnitudePruning, MbyNPruning  # noqa: E402
from tfcompress.quantize import (ClusterPreservingQAT, PrunePreservingQAT, QuantizeAwareTraining,  # noqa: E402
                                 WeightClustering)
from tfcompress.train import Trainer, accuracy  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
# Weights that a deployed model keeps (TFMOT quantizer ranges and step counters are not counted).
DEPLOYED_WEIGHTS = ("kernel", "bias", "depthwise_kernel", "pointwise_kernel", "gamma", "beta", "moving_mean",
                    "moving_variance", "embeddings")


# Settings per strength: "default" (the issue's) and "strong" (each technique left with about 6% of the weights).
STRENGTHS = {"default": {"sparsity": 0.8, "keep_ratio": 0.5, "clusters": 16, "target": 0.25},
             "strong": {"sparsity": 0.95, "keep_ratio": 0.25, "clusters": 4, "target": 0.06}}


def techniques(epochs, strength="default"):
    """(key, label, stage) of the single techniques; each stage starts from the trained reference model."""
    s = STRENGTHS[strength]
    sparsity, keep, target = round(100 * s["sparsity"]), round(100 * s["keep_ratio"]), round(100 * s["target"])
    return [
        ("magnitude", f"magnitude {sparsity}%", MagnitudePruning(sparsity=s["sparsity"], epochs=epochs)),
        ("m_by_n", "2:4 sparsity", MbyNPruning(m_by_n=(2, 4), epochs=epochs)),
        ("gradient", f"gradient (Taylor) {sparsity}%", GradientPruning(sparsity=s["sparsity"], epochs=epochs)),
        ("channel", f"channel {keep}% kept", ChannelPruning(keep_ratio=s["keep_ratio"], epochs=epochs)),
        ("cluster", f"clustering {s['clusters']}", WeightClustering(number_of_clusters=s["clusters"], epochs=epochs)),
        ("svd", f"SVD to {target}% params", SVDFactorize(target=s["target"], epochs=epochs)),
        ("pca", f"PCA to {target}% params", PCAFactorize(target=s["target"], epochs=epochs)),
    ]


def combinations(epochs):
    """(source key, suffix, QAT stage): QAT of the reference (source None) or of a single technique's model."""
    return [
        (None, "QAT", QuantizeAwareTraining(epochs=epochs, ptq_fallback=False)),
        ("magnitude", "PQAT", PrunePreservingQAT(epochs=epochs, ptq_fallback=False)),
        ("cluster", "CQAT", ClusterPreservingQAT(epochs=epochs, ptq_fallback=False)),
        ("svd", "QAT", QuantizeAwareTraining(epochs=epochs, ptq_fallback=False)),
        ("channel", "QAT", QuantizeAwareTraining(epochs=epochs, ptq_fallback=False)),
    ]


def deployed_params(model):
    """(parameters, non-zero parameters) of the weights a deployed model keeps."""
    total = nonzero = 0
    for w in model.weights:
        if w.name.split("/")[-1].split(":")[0] in DEPLOYED_WEIGHTS:
            value = w.numpy()
            total += value.size
            nonzero += int(np.count_nonzero(value))
    return total, nonzero


def json_safe(obj):
    """A JSON-able copy of a stage report (tuples → lists, NumPy scalars → Python numbers)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


class Bench:
    """Converts, measures and collects the rows; latency is measured later, interleaved over all rows."""

    def __init__(self, data):
        self.data = data
        self.rows, self.files = [], []

    def add(self, label, model, fmt, stages, seconds):
        params, nonzero = deployed_params(model)
        tflite = export.convert(model, fmt, representative_data=self.data["x_train"][:300])
        info = export.inspect_tflite(tflite)
        row = {"row": label, "format": fmt, "stages": stages, "finetune_seconds": seconds,
               "params": params, "nonzero_params": nonzero, "tflite_params": info["params"],
               "tflite_bytes": info["file_bytes"], "gzip_bytes": info["gzip_bytes"],
               "tflite_kernel_sparsity": info["sparsity"], "is_fully_integer": info["is_fully_integer"],
               "keras_test_accuracy": accuracy(model, self.data["x_test"], self.data["y_test"]),
               "test_accuracy": export.evaluate_tflite(tflite, self.data["x_test"], self.data["y_test"])}
        self.rows.append(row)
        self.files.append(tflite)
        print(f"  {label:28s} {fmt:5s} {row['tflite_bytes']:8d} B  gzip {row['gzip_bytes']:8d} B  "
              f"acc {100 * row['test_accuracy']:.1f}%", flush=True)

    def add_error(self, label, stages, exc):
        traceback.print_exc()
        self.rows.append({"row": label, "stages": stages, "error": f"{type(exc).__name__}: {exc}"[:500]})
        self.files.append(None)

    def measure_latency(self, repeats, runs):
        """Median of per-round medians, rows interleaved within each round (a shared machine drifts)."""
        samples = {i: {"xnnpack": [], "builtin": []} for i, f in enumerate(self.files) if f is not None}
        delegate = None
        for _ in range(repeats):
            for i in samples:
                fast = export.measure_latency(self.files[i], runs=runs, num_threads=1, use_xnnpack=True)
                plain = export.measure_latency(self.files[i], runs=runs, num_threads=1, use_xnnpack=False)
                samples[i]["xnnpack"].append(fast["median_us"])
                samples[i]["builtin"].append(plain["median_us"])
                delegate = delegate or fast["delegate"]
        for i, s in samples.items():
            self.rows[i]["latency_us"] = common.summarize(s["xnnpack"])
            self.rows[i]["latency_builtin_us"] = common.summarize(s["builtin"])
        return delegate


def add_ratios(rows):
    """Ratios against the uncompressed float model (row 0): size and gzip ×, speed ×, accuracy Δ points."""
    ref = rows[0]
    for row in rows:
        if "error" in row:
            continue
        row["size_ratio"] = ref["tflite_bytes"] / row["tflite_bytes"]
        row["gzip_ratio"] = ref["gzip_bytes"] / row["gzip_bytes"]
        row["speed_ratio"] = ref["latency_us"]["median"] / row["latency_us"]["median"]
        row["speed_ratio_builtin"] = ref["latency_builtin_us"]["median"] / row["latency_builtin_us"]["median"]
        row["accuracy_delta_points"] = 100 * (row["test_accuracy"] - ref["test_accuracy"])


def run(args):
    data = load_digits_data()
    keras.utils.set_random_seed(args.seed)
    reference = build_cnn((8, 8, 1), 10, filters=(32, 64), dense_units=128, name="reference")
    print(f"training the reference ({reference.count_params()} params, {args.base_epochs} epochs)", flush=True)
    with common.Stopwatch() as sw:
        Trainer(data, learning_rate=args.base_lr).fit(reference, args.base_epochs)
    bench = Bench(data)
    bench.add("uncompressed (float)", reference, "float", [], 0.0)
    bench.add("uncompressed + PTQ int8", reference, "int8", [], 0.0)

    teacher = None
    if args.teacher:  # a copy: the Distiller sets its teacher's trainable=False for good, and copies of a frozen
        # reference made by later stages would not train (channel pruning) or not cluster at all (TFMOT)
        teacher = keras.models.clone_model(reference)
        teacher.set_weights(reference.get_weights())
    trainer = Trainer(data, teacher=teacher, learning_rate=args.lr)
    models, history, labels = {None: reference}, {None: []}, {None: ""}
    for key, label, stage in techniques(args.epochs, args.strength):
        labels[key] = label
        keras.utils.set_random_seed(args.seed)
        stages = [{"stage": type(stage).__name__, "config": json_safe(stage.get_config())}]
        try:
            with common.Stopwatch() as st:
                model = stage.apply(reference, trainer)
            stages[0]["report"] = json_safe(getattr(stage, "_report", None))
            if not args.quick:  # the smoke run skips the float files of the compressed models
                bench.add(label, model, "float", stages, st.seconds)
            bench.add(label + " + PTQ int8", model, "int8", stages, st.seconds)
            models[key], history[key] = model, stages
        except Exception as exc:  # one broken technique must not hide the others' numbers
            bench.add_error(label, stages, exc)
    for source, suffix, stage in combinations(args.epochs):
        keras.utils.set_random_seed(args.seed)
        label = f"{labels[source]} + {suffix}" if labels[source] else suffix
        stages = history.get(source, []) + [{"stage": type(stage).__name__,
                                             "config": json_safe(stage.get_config())}]
        if source not in models:
            bench.add_error(label, stages, RuntimeError(f"its first stage ({source}) failed"))
            continue
        try:
            with common.Stopwatch() as st:
                model = stage.apply(models[source], trainer)
            stages[-1]["report"] = json_safe(getattr(stage, "_report", None))
            bench.add(label, model, "int8", stages, st.seconds)
        except Exception as exc:
            bench.add_error(label, stages, exc)

    print(f"latency: {args.repeats} interleaved rounds of {args.runs} runs per row", flush=True)
    delegate = bench.measure_latency(args.repeats, args.runs)
    add_ratios(bench.rows)
    return {"config": vars(args), "environment": common.environment(), "reference_train_seconds": sw.seconds,
            "test_samples": int(len(data["y_test"])),
            "latency_settings": {"batch_size": 1, "num_threads": 1, "runs": args.runs, "repeats": args.repeats,
                                 "delegate": delegate, "host": export.runtime.host_info(),
                                 "builtin": "OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES"},
            "rows": bench.rows}


def markdown(out):
    cfg, lat = out["config"], out["latency_settings"]
    headers = ["row", "format", "params", "non-zero", "tflite B", "gzip B", "test acc %", "Δ acc pts",
               "size ×", "gzip ×", "µs XNNPACK", "speed ×", "µs builtin"]
    rows = []
    for r in out["rows"]:
        if "error" in r:
            rows.append([r["row"], "—", *["failed"] + ["—"] * 10])
            continue
        rows.append([r["row"], r["format"], r["params"], r["nonzero_params"], r["tflite_bytes"], r["gzip_bytes"],
                     f"{100 * r['test_accuracy']:.1f}", f"{r['accuracy_delta_points']:+.1f}",
                     f"{r['size_ratio']:.2f}", f"{r['gzip_ratio']:.2f}", f"{r['latency_us']['median']:.1f}",
                     f"{r['speed_ratio']:.2f}", f"{r['latency_builtin_us']['median']:.1f}"])
    errors = [f"- {r['row']}: {r['error']}" for r in out["rows"] if "error" in r]
    n, p0 = out["test_samples"], out["rows"][0]["test_accuracy"]
    se = 100 * (p0 * (1 - p0) / n) ** 0.5
    how = "distilled from the reference" if cfg["teacher"] else "plain cross-entropy"
    lines = [
        "# Compression techniques on one digits CNN (measured on the exported .tflite files)", "",
        f"Reference: `build_cnn((8, 8, 1), 10, filters=(32, 64), dense_units=128)` trained {cfg['base_epochs']} "
        f"epochs (Adam {cfg['base_lr']}, per-step cosine decay), seed {cfg['seed']}. Each technique starts from "
        f"it and is fine-tuned {cfg['epochs']} epochs per stage at the `{cfg['strength']}` settings ({how}, "
        f"Adam {cfg['lr']}, cosine); a "
        "`+ QAT/PQAT/CQAT` combination continues from the single technique's model (twice the epochs). "
        "`PTQ int8`: full-integer post-training quantization (int8 in/out, 300 calibration images).", "",
        "params / non-zero: weights of the converted Keras model (kernels, biases, BatchNorm; quantizer "
        f"variables not counted). Accuracy: the .tflite file in the LiteRT interpreter on the {n}-image test "
        f"split (1 image = {100 / n:.2f} points; binomial standard error at the reference's accuracy ≈ {se:.1f} "
        "points). Ratios against the uncompressed float .tflite of the same run: size × and gzip × = reference "
        "bytes / row bytes, speed × = reference latency / row latency (> 1 is better), Δ acc = row − reference.",
        "",
        f"Latency: batch 1, {lat['num_threads']} thread, median over {lat['repeats']} interleaved rounds of the "
        f"median of {lat['runs']} invocations; `µs XNNPACK` with the default delegate ({lat['delegate']}), "
        f"`µs builtin` with the builtin kernels; host {lat['host']['processor']}, {lat['host']['cpu_count']} "
        "cores shared with other jobs. Host x86 latency is a proxy, not a phone.", "",
        common.markdown_table(headers, rows), "",
    ]
    not_integer = [r["row"] for r in out["rows"] if r.get("format") == "int8" and not r["is_fully_integer"]]
    lines.append("Every int8 file is fully integer (checked with `inspect_tflite`)." if not not_integer else
                 f"int8 files with float ops left: {', '.join(not_integer)}.")
    if "wall_seconds" in out:
        lines.append(f"Whole run: {out['wall_seconds']:.0f} s wall clock, {out['cpu_seconds']:.0f} s CPU of this "
                     f"process (reference training {out['reference_train_seconds']:.0f} s wall).")
    lines.append("")
    if errors:
        lines += ["Failed rows:", "", *errors, ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 3 reference epochs, 1 epoch per stage, no float files of compressed models")
    p.add_argument("--base-epochs", type=int, default=None, help="reference epochs. Defaults to 25 (3 quick).")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs per stage. Defaults to 5 (1 quick).")
    p.add_argument("--base-lr", type=float, default=3e-3, help="reference peak learning rate. Defaults to 3e-3.")
    p.add_argument("--lr", type=float, default=1e-3, help="fine-tuning peak learning rate. Defaults to 1e-3.")
    p.add_argument("--teacher", action="store_true", help="fine-tune every stage distilled from the reference")
    p.add_argument("--strength", default="default", choices=sorted(STRENGTHS),
                   help="technique settings: default (80%% sparsity, 50%% channels, 16 clusters, 25%% params) or "
                        "strong (95%%, 25%%, 4 clusters, 6%%). Defaults to default.")
    p.add_argument("--repeats", type=int, default=None, help="latency rounds. Defaults to 5 (3 quick).")
    p.add_argument("--runs", type=int, default=200, help="invocations per latency measurement. Defaults to 200.")
    p.add_argument("--seed", type=int, default=0, help="Defaults to 0.")
    p.add_argument("--out", default=RESULTS, help="output folder. Defaults to benchmarks/results.")
    args = p.parse_args(argv)
    for name, full, small in (("base_epochs", 25, 3), ("epochs", 5, 1), ("repeats", 5, 3)):
        if getattr(args, name) is None:
            setattr(args, name, small if args.quick else full)
    if args.repeats < 3:
        p.error(f"--repeats must be at least 3 (latency is a median over repeats); received {args.repeats}.")
    with common.Stopwatch() as sw:
        out = run(args)
    out["wall_seconds"], out["cpu_seconds"] = sw.seconds, sw.cpu_seconds
    stem = "compress.quick" if args.quick else "compress"
    if args.teacher:
        stem += ".teacher"
    if args.strength != "default":
        stem += "." + args.strength
    common.write_json(os.path.join(args.out, stem + ".json"), out)
    text = markdown(out)
    common.write_text(os.path.join(args.out, stem + ".md"), text)
    print(text)
    print(f"wrote {os.path.join(args.out, stem)}.json/.md in {sw.seconds:.0f} s wall, {sw.cpu_seconds:.0f} s CPU")


if __name__ == "__main__":
    main()
