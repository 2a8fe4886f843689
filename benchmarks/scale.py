"""Streamed image folders at scale: distillation throughput against the student alone, and peak memory against
data size.

Two parts (``--part``, default both), on the shapes task written as 32x32 RGB PNG folders
(``tfcompress.synthetic.write_image_folder``; 60% train, 20% val, 20% test):

- ``throughput``: images per second of one training epoch over the train split of the first ``--sizes`` folder,
  read from disk, batch 64, for three rows measured in the same process: the student alone (``model.fit`` on
  ``train.dataset(64, shuffle=True)``, the baseline); the ``Distiller`` fed through ``fit_feed(train, 64,
  teacher_cache=cache)`` with the teacher's logits read from the on-disk memory-mapped cache (what a
  ``distill: {augment: null}`` stage runs; the first cache fill is timed separately, before); and the
  ``Distiller`` with the teacher run on every batch (no cache). Teacher ``build_cnn((32, 32, 3), 10,
  filters=(32, 64))`` (untrained: timing only), student ``filters=(8, 16)``. Each row has one warm-up epoch, then
  ``--repeats`` timed epochs, the order of the rows alternating between rounds; medians of wall and CPU seconds.
  The ratio distill/student is the issue's target (at most 1.15x with the cached teacher).
- ``memory``: for every size, ``python -m tfcompress.cli run recipe.yaml --quiet`` as a child process (``data:``
  the folder, a small saved teacher trained 2 epochs on the first folder, ``student: {family: cnn, filters:
  [8, 16]}``, ``latency_runs: 5``, stages distill 1 epoch with ``augment: null`` then int8 export). The child's
  peak RSS is ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` read in a fresh helper process that starts only
  that child, so each number is that one run's peak (the largest of its process and any process it waited
  for). Also measured: a child that only imports tfcompress and TensorFlow (the floor), and, computed, what
  the images would take loaded whole as float32 arrays (n x 32 x 32 x 3 x 4 bytes).

The folders and the teacher are generated once, each in a subprocess, and kept under ``--work`` so reruns reuse
them (60,000 images take about 6 minutes). Results go to ``benchmarks/results/scale.json`` and ``scale.md``; a
run of one part keeps the other part's results already in the file. ``--quick`` writes to the ``--work`` folder
unless ``--out`` is given.

Usage:
    python benchmarks/scale.py                              # both parts, sizes 6000 60000
    python benchmarks/scale.py --part throughput            # throughput alone (6,000-image folder, 5 repeats)
    python benchmarks/scale.py --part memory --sizes 6000 60000
    python benchmarks/scale.py --quick                      # smoke run: 600 and 3,000 images, 1 repeat
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (benchmarks/common.py, next to this file)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
SHAPE = (32, 32, 3)
CLASSES = 10
BATCH = 64
TEACHER_FILTERS = (32, 64)
STUDENT_FILTERS = (8, 16)
ROWS = ("student alone", "distill, cached teacher", "distill, teacher every batch")

# Run in a fresh interpreter that imports nothing heavy: its RUSAGE_CHILDREN peak is the one child's.
PEAK_HELPER = r"""
import json, resource, subprocess, sys, time
def status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: int(v.split()[0]) for k, v in (l.split(":", 1) for l in f) if k in ("VmRSS", "VmHWM")}
    except (OSError, ValueError):
        return {}
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=sys.stderr)  # stdout carries only the JSON line
timeline, hwm = [], 0
while child.poll() is None:
    now = status(child.pid)
    if now:
        hwm = max(hwm, now.get("VmHWM", 0))
        timeline.append((round(time.perf_counter() - start, 1), now.get("VmRSS", 0)))
    time.sleep(0.5)
print(json.dumps({"exit_code": child.returncode, "wall_s": time.perf_counter() - start,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "polled_vmhwm_kib": hwm, "rss_timeline_kib": timeline}))
"""


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_python(code, *args):
    """Run ``python -c code args`` with this checkout on the path; raise with its stderr if it fails."""
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=child_env(), capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"subprocess failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


# ---------------------------------------------------------------------------------------------- inputs
GENERATE = r"""
import json, sys, time
from tfcompress.synthetic import write_image_folder
start = time.perf_counter()
counts = write_image_folder(sys.argv[1], n_samples=int(sys.argv[2]), image_size=32, seed=0)
print(json.dumps({"counts": counts, "seconds": time.perf_counter() - start}))
"""


def ensure_folder(work, n):
    """The shapes folder of ``n`` images under ``work``, generated (in a subprocess) unless already complete."""
    root = os.path.join(work, f"shapes32_{n}")
    marker = root + ".json"
    if os.path.exists(marker) and os.path.isdir(root):
        with open(marker) as f:
            return root, json.load(f)
    shutil.rmtree(root, ignore_errors=True)
    print(f"generating {n} images in {root} ...", flush=True)
    info = json.loads(run_python(GENERATE, root, n).strip().splitlines()[-1])
    with open(marker, "w") as f:
        json.dump(info, f)
    print(f"  {info['seconds']:.0f} s", flush=True)
    return root, info


TRAIN_TEACHER = r"""
import sys
from tfcompress import build_cnn
from tfcompress._keras import keras
from tfcompress.datasets import open_data
keras.utils.set_random_seed(0)
teacher = build_cnn((32, 32, 3), 10, filters=(32, 64))
train = open_data(sys.argv[1]).bind((32, 32, 3), teacher).split("train")
teacher.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
teacher.fit(train.dataset(64, shuffle=True, seed=0), epochs=int(sys.argv[3]), verbose=0)
teacher.save(sys.argv[2])
"""


def ensure_teacher(work, folder, epochs=2):
    path = os.path.join(work, f"teacher_{os.path.basename(folder)}_e{epochs}.keras")
    if not os.path.exists(path):
        print(f"training the teacher on {folder} ({epochs} epochs) ...", flush=True)
        tmp = path + ".tmp.keras"
        run_python(TRAIN_TEACHER, folder, tmp, epochs)
        os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------- throughput
def throughput(folder, repeats, work):
    """Per row: seconds and CPU seconds of each timed epoch, their medians and images per second."""
    from tfcompress import build_cnn
    from tfcompress._keras import keras
    from tfcompress.datasets import open_data
    from tfcompress.datasets.feed import fit_feed
    from tfcompress.distill import Distiller, LogitsDistillation, defaults
    from tfcompress.distill.cache import TeacherCache

    keras.utils.set_random_seed(0)
    teacher = build_cnn(SHAPE, CLASSES, filters=TEACHER_FILTERS)
    train = open_data(folder).bind(SHAPE, teacher).split("train")
    cache_dir = os.path.join(work, "throughput_cache")
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache = TeacherCache(teacher, directory=cache_dir)
    with common.Stopwatch() as fill:
        cache.split_logits(train)
    with common.Stopwatch() as reread:  # a later stage's request: the file is opened, not recomputed
        TeacherCache(teacher, directory=cache_dir).split_logits(train)

    def student():
        keras.utils.set_random_seed(1)
        return build_cnn(SHAPE, CLASSES, filters=STUDENT_FILTERS)

    def distiller():
        d = Distiller(student=student(), teacher=teacher, alpha=defaults.ALPHA,
                      distillation_losses=[LogitsDistillation(temperature=defaults.TEMPERATURE, loss=defaults.LOSS)])
        d.compile(optimizer=keras.optimizers.Adam(defaults.LEARNING_RATE), metrics=["accuracy"])
        return d

    alone = student()
    alone.compile(keras.optimizers.Adam(defaults.LEARNING_RATE),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    cached, uncached = distiller(), distiller()
    runs = {ROWS[0]: (alone, {"x": train.dataset(BATCH, shuffle=True)}),
            ROWS[1]: (cached, fit_feed(train, BATCH, teacher_cache=cache)),
            ROWS[2]: (uncached, {"x": train.dataset(BATCH, shuffle=True)})}
    times = {row: {"seconds": [], "cpu_seconds": []} for row in ROWS}

    def epoch(row, record):
        model, feed = runs[row]
        timer = common.epoch_timer()
        model.fit(**feed, epochs=1, verbose=0, callbacks=[timer])
        if record:
            times[row]["seconds"].append(timer.times[0])
            times[row]["cpu_seconds"].append(timer.cpu_times[0])

    for row in ROWS:  # warm-up: graph tracing, first reads of the files
        epoch(row, record=False)
    for r in range(repeats):
        for row in (ROWS if r % 2 == 0 else ROWS[::-1]):
            epoch(row, record=True)
            print(f"  round {r + 1}/{repeats} {row}: {times[row]['seconds'][-1]:.2f} s", flush=True)
    n = train.size
    rows = []
    base = common.summarize(times[ROWS[0]]["seconds"])["median"]
    base_cpu = common.summarize(times[ROWS[0]]["cpu_seconds"])["median"]
    for row in ROWS:
        wall, cpu = common.summarize(times[row]["seconds"]), common.summarize(times[row]["cpu_seconds"])
        paired = [t / b for t, b in zip(times[row]["seconds"], times[ROWS[0]]["seconds"])]
        rows.append({"row": row, "epoch_s": wall, "epoch_cpu_s": cpu, "images_per_s": n / wall["median"],
                     "ratio_to_student": wall["median"] / base, "ratio_to_student_cpu": cpu["median"] / base_cpu,
                     "paired_ratios": paired, "raw_seconds": times[row]["seconds"],
                     "raw_cpu_seconds": times[row]["cpu_seconds"]})
    return {"folder": folder, "train_images": n, "batch_size": BATCH, "repeats": repeats, "warmup_epochs": 1,
            "teacher_filters": list(TEACHER_FILTERS), "student_filters": list(STUDENT_FILTERS),
            "teacher_params": int(teacher.count_params()), "student_params": int(alone.count_params()),
            "cache_fill_s": fill.seconds, "cache_fill_images_per_s": n / fill.seconds,
            "cache_reopen_s": reread.seconds, "rows": rows, "target_ratio_cached": 1.15}


# ---------------------------------------------------------------------------------------------- memory
def peak_of(cmd):
    """Exit code, wall seconds and peak RSS (KiB) of one child started by a fresh helper interpreter."""
    out = subprocess.run([sys.executable, "-c", PEAK_HELPER, *cmd], env=child_env(), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"peak helper failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["exit_code"] != 0:
        result["stderr_tail"] = out.stderr[-2000:]
        print(result["stderr_tail"], file=sys.stderr)
    return result


def memory(folders, teacher_path, work):
    import yaml

    floor = peak_of([sys.executable, "-c", "import tensorflow, tfcompress.cli, tfcompress.datasets"])
    rows = []
    for n, (folder, info) in folders.items():
        run_dir = os.path.join(work, f"run_{n}")
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh output: the teacher cache is filled in the run
        os.makedirs(run_dir)
        recipe = {"teacher": teacher_path, "data": folder, "output": os.path.join(run_dir, "out"),
                  "student": {"family": "cnn", "filters": list(STUDENT_FILTERS)}, "latency_runs": 5,
                  "stages": [{"distill": {"epochs": 1, "augment": None}}, {"export": {"format": "int8"}}]}
        path = os.path.join(run_dir, "recipe.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(recipe, f)
        print(f"running the pipeline on {n} images ...", flush=True)
        peak = peak_of([sys.executable, "-m", "tfcompress.cli", "run", path, "--quiet"])
        row = {"images": n, "split_counts": info["counts"], "exit_code": peak["exit_code"],
               "wall_s": peak["wall_s"], "peak_rss_mib": peak["peak_rss_kib"] / 1024,
               "polled_vmhwm_mib": peak["polled_vmhwm_kib"] / 1024,
               "peak_at_s": max(peak["rss_timeline_kib"], key=lambda p: p[1])[0] if peak["rss_timeline_kib"] else None,
               "rss_timeline_mib": [(t, round(k / 1024)) for t, k in peak["rss_timeline_kib"][::4]],
               "whole_float32_mib": n * 32 * 32 * 3 * 4 / 2 ** 20}
        if "stderr_tail" in peak:
            row["stderr_tail"] = peak["stderr_tail"]
        report = os.path.join(run_dir, "out", "report.json")
        if os.path.exists(report):
            with open(report) as f:
                stages = json.load(f).get("stages", [])
            row["stage_seconds"] = {s.get("stage", str(i)): s.get("elapsed_s") for i, s in enumerate(stages)
                                    if isinstance(s, dict)}
        rows.append(row)
        print(f"  exit {row['exit_code']}, {row['wall_s']:.0f} s, peak RSS {row['peak_rss_mib']:.0f} MiB", flush=True)
    result = {"method": "ru_maxrss of RUSAGE_CHILDREN in a fresh helper process per child (Linux: KiB)",
              "import_floor_mib": floor["peak_rss_kib"] / 1024, "teacher": teacher_path, "rows": rows}
    if len(rows) >= 2:
        result["ratio_largest_to_smallest"] = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
        result["data_ratio"] = rows[-1]["images"] / rows[0]["images"]
    return result


# ---------------------------------------------------------------------------------------------- output
def commit():
    try:
        sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except Exception:  # pragma: no cover - not a git checkout
        return "unknown"


def markdown(result):
    lines = ["# Streamed image folders at scale", ""]
    for part in ("throughput", "memory"):
        if part not in result:
            continue
        meta = result[part]["run"]
        run_line = f"Machine: {meta['machine']}. Commit `{meta['commit']}`. Command: `{meta['command']}`."
        if part == "throughput":
            t = result[part]
            lines += [f"## Throughput: one epoch over {t['train_images']} train images (32x32 RGB PNG), batch "
                      f"{t['batch_size']}", "", run_line, "",
                      f"Teacher {t['teacher_params']:,} parameters (filters {tuple(t['teacher_filters'])}), student "
                      f"{t['student_params']:,} (filters {tuple(t['student_filters'])}). Median of {t['repeats']} "
                      f"epochs after {t['warmup_epochs']} warm-up epoch, rows alternating. First cache fill (the "
                      f"teacher over the split, written to a memory-mapped .npy): {t['cache_fill_s']:.1f} s "
                      f"({t['cache_fill_images_per_s']:.0f} images/s); reopening it: {t['cache_reopen_s']:.2f} s.",
                      ""]
            table = []
            for r in t["rows"]:
                table.append([r["row"], f"{r['epoch_s']['median']:.2f} ({r['epoch_s']['min']:.2f}-"
                              f"{r['epoch_s']['max']:.2f})", f"{r['epoch_cpu_s']['median']:.2f}",
                              f"{r['images_per_s']:.0f}", f"{r['ratio_to_student']:.2f}x",
                              f"{r['ratio_to_student_cpu']:.2f}x"])
            lines += [common.markdown_table(["row", "epoch s, median (min-max)", "epoch CPU s", "images/s",
                                             "time / student", "CPU / student"], table), "",
                      f"Target: distill with the cached teacher at most {t['target_ratio_cached']}x the student "
                      "alone.", ""]
        else:
            m = result[part]
            lines += ["## Peak memory of `tfcompress run` against data size", "", run_line, "",
                      f"Recipe: distill 1 epoch (`augment: null`) + int8 export, `latency_runs: 5`, student cnn "
                      f"filters [8, 16]. Peak RSS: {m['method']}. A child importing only TensorFlow and tfcompress "
                      f"peaks at {m['import_floor_mib']:.0f} MiB.", ""]
            table = [[f"{r['images']:,}", r["exit_code"], f"{r['wall_s']:.0f}", f"{r['peak_rss_mib']:.0f}",
                      f"{r['polled_vmhwm_mib']:.0f}" if r.get("polled_vmhwm_mib") else "",
                      r.get("peak_at_s", ""), f"{r['whole_float32_mib']:.0f}"] for r in m["rows"]]
            lines += [common.markdown_table(["images", "exit", "wall s", "peak RSS MiB", "VmHWM polled, MiB",
                                             "peak reached at s", "the images as float32 arrays, MiB (computed)"],
                                            table), "",
                      "VmHWM is read from /proc/<pid>/status every 0.5 s as a cross-check of the peak (the "
                      "child's own process only); the RSS timeline is in scale.json.", ""]
            if "ratio_largest_to_smallest" in m:
                lines += [f"Peak RSS ratio, {m['rows'][-1]['images']:,} / {m['rows'][0]['images']:,} images: "
                          f"{m['ratio_largest_to_smallest']:.3f} for {m['data_ratio']:.0f}x the data (target: flat, "
                          "at most 1.1).", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("throughput", "memory", "all"), default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="images per folder (default 6000 60000)")
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs per row (default 5; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: sizes 600 3000, 1 repeat")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tfcompress_scale"),
                        help="generated folders, teacher and runs (kept between runs)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results; --work if --quick)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([600, 3000] if args.quick else [6000, 60000])
    repeats = args.repeats or (1 if args.quick else 5)
    out = args.out or (args.work if args.quick else RESULTS)
    os.makedirs(args.work, exist_ok=True)
    run = {"machine": f"{os.cpu_count()} CPU cores, {common.environment()['platform']}", "commit": commit(),
           "command": "python benchmarks/scale.py " + " ".join(sys.argv[1:] if argv is None else argv)}

    json_path = os.path.join(out, "scale.json")
    result = {"benchmark": "scale"}
    if os.path.exists(json_path):  # keep the other part's numbers
        with open(json_path) as f:
            result.update(json.load(f))
    result["environment"] = common.environment()

    folders = {n: ensure_folder(args.work, n) for n in (sizes if args.part != "throughput" else sizes[:1])}
    if args.part in ("throughput", "all"):
        print(f"throughput on {folders[sizes[0]][0]} ...", flush=True)
        result["throughput"] = throughput(folders[sizes[0]][0], repeats, args.work)
        result["throughput"]["run"] = run
    if args.part in ("memory", "all"):
        teacher = ensure_teacher(args.work, folders[sizes[0]][0])
        result["memory"] = memory(folders, teacher, args.work)
        result["memory"]["run"] = run
        result["memory"]["generation_s"] = {str(n): info["seconds"] for n, (_, info) in folders.items()}
    text = markdown(result)
    common.write_json(json_path, result)
    common.write_text(os.path.join(out, "scale.md"), text)
    print(text)
    bad = [r for r in result.get("memory", {}).get("rows", []) if r["exit_code"] != 0]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
