"""A tiny end-to-end run: stages, measured report, files, and resume after an interruption."""

import json
import os

import numpy as np
import pytest
from run_files import tabular_files

from tfcompress.export import evaluate_tflite
from tfcompress.pipeline import Pipeline
from tfcompress.pipeline.state import RunState
from tfcompress.prune import MagnitudePruning
from tfcompress.quantize.stages import PostTrainingQuantization


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tabular_files(tmp_path_factory.mktemp("run"))


def make_pipeline(root, teacher_path):
    return Pipeline([{"prune": {"sparsity": 0.5, "epochs": 1}}, {"quantize": {"method": "ptq"}}],
                    teacher=teacher_path, data=str(root / "data.npz"), output=str(root / "out"), latency_runs=5)


def test_run_resumes_after_interruption_and_writes_the_report(workspace, monkeypatch):
    root, teacher_path, data = workspace
    out = root / "out"

    def killed(self, model, trainer):
        raise RuntimeError("killed during quantize")

    monkeypatch.setattr(PostTrainingQuantization, "apply", killed)
    with pytest.raises(RuntimeError, match="killed"):
        make_pipeline(root, teacher_path).run(verbose=0)
    state = json.loads((out / "state" / "state.json").read_text())
    assert [s["key"] for s in state["finished"]] == ["prune"]
    assert not (out / "report.json").exists()

    # the re-run must not prune again: it continues with the quantize stage
    monkeypatch.undo()

    def must_not_run(self, model, trainer):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr(MagnitudePruning, "apply", must_not_run)
    lines = []
    report = make_pipeline(root, teacher_path).run(log=lines.append)
    assert any("resuming" in line for line in lines)
    assert report["resumed_stages"] == 1
    assert [r["stage"] for r in report["stages"]] == ["prune", "quantize", "export"]

    for name in ("model.tflite", "model.json", "report.json", "report.md", "accuracy_vs_size.png"):
        assert (out / name).stat().st_size > 0, name
    flat = (out / "model.tflite").read_bytes()
    summary = report["summary"]
    assert summary["final_bytes"] == len(flat)
    assert summary["final_accuracy"] == pytest.approx(evaluate_tflite(flat, data["x_test"], data["y_test"]))
    assert summary["compression_ratio"] == pytest.approx(report["teacher"]["float32"]["tflite_bytes"] / len(flat))
    assert summary["accuracy_drop"] == pytest.approx(summary["teacher_accuracy"] - summary["final_accuracy"])
    assert summary["speedup_ratio"] > 0
    prune_row = report["stages"][0]
    assert prune_row["after"]["sparsity"] > 0.2  # pruning shows in the measured file
    assert prune_row["before"]["tflite_bytes"] == report["teacher"]["int8"]["tflite_bytes"]
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["summary"] == pytest.approx(summary)
    md = (out / "report.md").read_text()
    assert "**Whole run:**" in md and "### 1. prune (magnitude)" in md and "![accuracy vs size]" in md
    assert not [f for f in os.listdir(out) if ".tmp" in f]  # atomic writes leave no temporary files

    # running the finished recipe again redoes nothing and gives the same numbers
    report_again = make_pipeline(root, teacher_path).run(verbose=0)
    assert report_again["resumed_stages"] == 3
    assert report_again["summary"] == pytest.approx(summary)

    # a different recipe does not reuse this state
    other = RunState(str(out), "another-recipe")
    assert other.load() == 0 and other.restarted


def test_data_free_pipeline_runs_without_training_data(workspace):
    root, teacher_path, data = workspace
    np.savez(root / "eval_only.npz", x_val=data["x_val"], y_val=data["y_val"], x_test=data["x_test"],
             y_test=data["y_test"])
    student = {"family": "mlp", "units": [8]}
    stages = [{"distill": {"data_free": True, "epochs": 1, "steps_per_epoch": 3, "batch_size": 16,
                           "input_range": None}},
              {"quantize": {"method": "ptq"}}]
    pipe = Pipeline(stages, teacher=teacher_path, student=student, data=str(root / "eval_only.npz"),
                    output=str(root / "out_free"), latency_runs=5)
    report = pipe.run(verbose=0)
    assert os.path.exists(root / "out_free" / "model.tflite")
    assert report["stages"][0]["stage"] == "distill"

    with pytest.raises(Exception, match="trains on x_train"):
        Pipeline([{"prune": {"sparsity": 0.5}}], teacher=teacher_path, data=str(root / "eval_only.npz"),
                 output=str(root / "out_needs_train")).run(verbose=0)
