"""End-to-end searches on a tiny vector task (a few seconds per trial)."""

import json
import os

import pytest

from tfcompress import keras
from tfcompress.errors import BudgetError, TrainingError
from tfcompress.search import SearchStage, search_student
from tfcompress.search.tuner import mnas_reward
from tfcompress.train import Trainer


def _trainer(data, teacher=None):
    return Trainer(data, teacher=teacher, batch_size=32, learning_rate=1e-2)


def test_search_resumes_without_rerunning_finished_trials(tab_data, tmp_path):
    first = search_student(_trainer(tab_data), family="mlp", max_trials=2, epochs=1, directory=str(tmp_path))
    assert first.new_trial_ids == ["00", "01"] and len(first.completed) == 2
    # a new tuner object on the same folder continues: one more trial, the first two are not run again
    second = search_student(_trainer(tab_data), family="mlp", max_trials=3, epochs=1, directory=str(tmp_path))
    assert second.new_trial_ids == ["02"]
    assert [t["trial_id"] for t in second.trials] == ["00", "01", "02"] and second.trials[:2] == first.trials
    best = max(second.completed, key=lambda t: t["score"])
    assert second.best_trial_id == best["trial_id"] and second.best_hyperparameters == best["hyperparameters"]
    # the best student is the trial's trained model, rebuilt with its weights (final_epochs=0)
    assert second.best_val_accuracy == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert second.best_model.output_shape == (None, 3)


def test_budget_rejects_without_training(tab_data, tmp_path):
    # the space's MLPs over 8 inputs: one layer of 16 units is ~2 kB; deep and wide ones are well over 4 kB
    result = search_student(_trainer(tab_data), family="mlp", max_trials=2, epochs=1, budget={"max_bytes": 4000},
                            seed=3, directory=str(tmp_path))
    rejected = [t for t in result.trials if t["status"] == "REJECTED"]
    done = result.completed
    assert len(done) == 2  # rejected candidates do not use up max_trials
    assert result.rejected == len(rejected) >= 1 and len(result.trials) == 2 + len(rejected)
    for t in rejected:  # measured, but never trained
        assert t["int8_bytes"] > 4000 and "val_accuracy" not in t and "max_bytes" in t["reason"]
        assert not os.path.exists(os.path.join(result.directory, f"trial_{t['trial_id']}", "student.weights.h5"))
    for t in done:
        assert t["int8_bytes"] <= 4000 and t["params"] > 0 and t["latency_us"] > 0 and t["train_seconds"] > 0
        assert 0.0 <= t["val_accuracy"] <= 1.0 and t["score"] == t["val_accuracy"]
    assert {t["trial_id"] for t in result.pareto} <= {t["trial_id"] for t in done}
    json.dumps(result.to_dict())
    assert "| trial |" in result.markdown()


def test_impossible_budget_raises_before_any_trial(tab_data, tmp_path):
    with pytest.raises(BudgetError, match="smallest candidate") as info:
        search_student(_trainer(tab_data), family="mlp", max_trials=3, epochs=1, budget={"max_bytes": 500},
                       directory=str(tmp_path))
    assert "int8_bytes=" in str(info.value)
    assert not [p for p in os.listdir(tmp_path / "student_search") if p.startswith("trial_")]


class _BrokenTrainer(Trainer):
    def fit(self, model, epochs, **kwargs):
        raise RuntimeError("loss became NaN")


def test_search_whose_trials_all_failed_raises(tab_data, tmp_path):
    with pytest.raises(TrainingError, match="loss became NaN"):
        search_student(_BrokenTrainer(tab_data), family="mlp", max_trials=2, epochs=1,
                       budget={"max_params": 600}, directory=str(tmp_path))


def test_hyperband_mnas_distilled_custom_space(tab_data, tab_teacher, tmp_path):
    pytest.importorskip("tfcompress.distill.distiller")

    def build(hp):
        units = hp.Choice("units", [8, 24])
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(units, activation="relu"),
                                 keras.layers.Dense(3)])

    result = search_student(_trainer(tab_data, tab_teacher), hypermodel=build, max_trials=3, epochs=2,
                            oracle="hyperband", budget={"max_bytes": 6000}, reward="mnas", final_epochs=1,
                            directory=str(tmp_path))
    done = [t for t in result.trials if t["status"] == "COMPLETED"]
    assert 1 <= len(done) <= 3
    for t in done:
        assert t["score"] == pytest.approx(mnas_reward(t["val_accuracy"], t["int8_bytes"], 6000))
        assert t["hyperparameters"]["tuner/epochs"] <= 2
    assert set(result.best_hyperparameters) == {"units"}
    assert result.best_val_accuracy > 0.5  # an easy task; the teacher guided it


def test_stage_apply_returns_best_student(tab_data, tab_teacher, tmp_path):
    pytest.importorskip("tfcompress.distill.distiller")
    stage = SearchStage(family="auto", max_trials=2, epochs=1, oracle="bayesian", budget={"max_params": 5000},
                        seed=1, directory=str(tmp_path))
    student = stage.apply(tab_teacher, _trainer(tab_data, tab_teacher))
    assert isinstance(student, keras.Model) and student.count_params() <= 5000
    assert student.input_shape == (None, 8) and student.output_shape == (None, 3)
    report = stage.report
    assert len(report["trials"]) == 2 and report["rejected"] == sum(
        t["status"] == "REJECTED" for t in report["trials"])
    assert report["pareto"] and "| trial |" in report["trials_markdown"]
    json.dumps(report)


def test_arena_budget_is_checked_per_candidate_before_training(tab_data, tmp_path):
    from tfcompress.export import convert
    from tfcompress.export.tflm import measure_arena

    limit = 4000
    result = search_student(_trainer(tab_data), family="mlp", max_trials=3, epochs=1,
                            budget={"max_arena_bytes": limit}, directory=str(tmp_path / "fits"))
    done = [t for t in result.trials if t["status"] == "COMPLETED"]
    assert done and all(0 < t["arena_bytes"] <= limit for t in done)
    flat = convert(result.best_model, "int8", representative_data=tab_data["x_train"])
    assert measure_arena(flat)["arena_bytes"] <= limit  # what was promised, measured again on the result
    assert "TFLM arena" in result.markdown()
    with pytest.raises(BudgetError, match=r"cannot be met.*arena_bytes \d+ > max_arena_bytes 64"):  # before trials
        search_student(_trainer(tab_data), family="mlp", max_trials=2, epochs=1, budget={"max_arena_bytes": 64},
                       directory=str(tmp_path / "none"))
