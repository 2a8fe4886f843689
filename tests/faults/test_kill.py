"""A run killed (SIGKILL, real processes) during distillation, between stages, during the export and during the
search resumes cleanly: finished stages and trials are not redone, no half-written model file appears under a final
name, and the final ``model.tflite`` is valid.

Kill points tested: 4 (``KILL_POINTS``).
"""

import json
import os
import textwrap

import numpy as np
import pytest
from fault_helpers import check_tflite, final_like_files, run_until, stale_tmp_files, write_recipe

KILL_POINTS = ("distill, after its first epoch", "prune, stage 2 (after stage 1 finished)",
               "export, halfway through writing model.tflite", "search, after the first finished trial")

STAGES = "  - distill: {epochs: 40}\n  - prune: {sparsity: 0.5, epochs: 20}\n  - export: {format: int8}\n"

# Runs the real CLI with the .tflite writer slowed down: it writes half the bytes into the temporary file,
# says so on stdout and sleeps (the test kills it there).
SLOW_EXPORT = textwrap.dedent("""
    import sys, time
    import tfcompress.export.exporter as exporter
    from tfcompress.fileio import atomic_path

    original = exporter.atomic_write

    def slow_write(path, data):
        if str(path).endswith(".tflite"):
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    f.write(data[: len(data) // 2])
                    f.flush()
                print("HOOK: half of model.tflite written", flush=True)
                time.sleep(600)
        return original(path, data)

    exporter.atomic_write = slow_write
    from tfcompress.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _no_half_outputs(out, allowed):
    """Only files from ``allowed`` (relative paths) may exist under final names."""
    extra = [f for f in final_like_files(out) if f not in allowed and not f.startswith("stage_1_search")]
    assert extra == [], extra


@pytest.mark.slow
def test_kill_during_distill_prune_and_export_then_resume(files, tmp_path):
    recipe = write_recipe(tmp_path, str(files / "teacher.keras"), str(files / "data.npz"), stages=STAGES)
    out = tmp_path / "out"
    args = ["run", recipe]

    # 1. during distillation: no stage finished, nothing saved under a final name but the teacher's numbers
    code, lines, killed = run_until(args, tmp_path, kill_when=lambda line: "[1/3] distill: epoch " in line)
    assert killed and code == -9, lines[-5:]
    assert not (out / "state" / "stage_1.keras").exists() and not (out / "model.tflite").exists()
    _no_half_outputs(out, {"state/state.json"})

    # 2. during stage 2: stage 1 was saved whole
    code, lines, killed = run_until(args, tmp_path, kill_when=lambda line: "[2/3] prune" in line and "started" in line)
    assert killed and any("[1/3] distill: done" in line for line in lines), lines[-5:]
    assert (out / "state" / "stage_1.keras").exists() and not (out / "model.tflite").exists()
    state = json.loads((out / "state" / "state.json").read_text())
    assert [s["index"] for s in state["finished"]] == [0]

    # 3. during the export, halfway through writing model.tflite: the target never exists
    hook = tmp_path / "slow_export.py"
    hook.write_text(SLOW_EXPORT)
    code, lines, killed = run_until(args, tmp_path, kill_when=lambda line: line.startswith("HOOK:"), script=str(hook))
    assert killed, lines[-5:]
    assert any("[1/3] distill" in line and "skipped" in line for line in lines)
    assert not (out / "stage_3_export" / "model.tflite").exists() and not (out / "model.tflite").exists()
    assert any("model.tflite" in f for f in stale_tmp_files(out))  # the half file has a temporary name
    _no_half_outputs(out, {"state/state.json", "state/stage_1.keras", "state/stage_2.keras"})

    # 4. the same command again finishes, redoing only the export
    code, lines, killed = run_until(args, tmp_path)
    assert code == 0, (tmp_path / "stderr_3.txt").read_text()[-2000:] + "\n".join(lines[-10:])
    skipped = [line for line in lines if "finished in an earlier run, skipped" in line]
    assert len(skipped) == 2 and not any(": epoch " in line for line in lines), lines
    report = json.loads((out / "report.json").read_text())
    assert report["resumed_stages"] == 2
    assert stale_tmp_files(out) == []  # the killed run's temporary file was cleaned up
    x = np.load(files / "data.npz")["x_test"]
    assert check_tflite(out / "model.tflite", x).shape == (1, 4)
    assert (out / "model.tflite").read_bytes() == (out / "stage_3_export" / "model.tflite").read_bytes()


@pytest.mark.slow
def test_kill_during_search_keeps_finished_trials(files, tmp_path):
    stages = "  - search: {max_trials: 4, epochs: 2, budget: {max_bytes: 200000}}\n  - export: {format: int8}\n"
    recipe = write_recipe(tmp_path, str(files / "teacher.keras"), str(files / "data.npz"), stages=stages, extra="")
    out = tmp_path / "out"

    code, lines, killed = run_until(["run", recipe], tmp_path, kill_when=lambda line: "search: trial 2/" in line)
    assert killed, lines[-10:]
    finished = _completed_trials(out)
    assert len(finished) >= 1
    assert not (out / "model.tflite").exists()

    code, lines, killed = run_until(["run", recipe], tmp_path)
    assert code == 0, (tmp_path / "stderr_1.txt").read_text()[-2000:] + "\n".join(lines[-10:])
    report = json.loads((out / "report.json").read_text())
    search = report["stages"][0]["report"]
    redone = set(search["new_trial_ids"]) & set(finished)
    assert not redone, (redone, search["new_trial_ids"])
    assert set(finished) <= {t["trial_id"] for t in search["trials"] if t["status"] == "COMPLETED"}
    x = np.load(files / "data.npz")["x_test"]
    assert check_tflite(out / "model.tflite", x).shape == (1, 4)


def _completed_trials(out):
    done = []
    for root, _, names in os.walk(out):
        if "trial.json" in names:
            with open(os.path.join(root, "trial.json")) as f:
                trial = json.load(f)
            if trial.get("status") == "COMPLETED":
                done.append(trial["trial_id"])
    return sorted(done)
