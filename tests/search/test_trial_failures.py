"""A failing trial fails alone: diverged weights, a failed conversion, over budget after training."""

import numpy as np
import pytest

from tfcompress import export
from tfcompress.errors import ConversionError, TrainingError
from tfcompress.search import search_student
from tfcompress.train import Trainer


class ScriptedTrainer(Trainer):
    """Each ``fit`` (one per trial) trains, then does what its trial's script says to the result."""

    def __init__(self, data, script):
        super().__init__(data, batch_size=32, learning_rate=1e-2)
        self.script = list(script)
        self.state = {"next_conversion": None}  # shared with the copy of the trainer the tuner keeps

    def fit(self, model, epochs, **kwargs):
        history = super().fit(model, epochs, **kwargs)
        action = self.script.pop(0)
        if action == "inf":  # diverged to huge values whatever the CPU rounds them to
            model.set_weights([np.full_like(w, np.inf) for w in model.get_weights()])
        elif action == "nan_loss":
            raise TrainingError("stage test: the training loss became nan at epoch 1, batch 1")
        self.state["next_conversion"] = action if action in ("convert_fails", "over_budget") else None
        return history


@pytest.fixture
def scripted_convert(monkeypatch):
    real = export.convert

    def convert(model, *args, **kwargs):
        state = scripted_convert.trainer.state
        action, state["next_conversion"] = state["next_conversion"], None
        if action == "convert_fails":
            raise ConversionError("TFLite conversion failed: scale out of expressed type range")
        out = real(model, *args, **kwargs)
        return out + b"\0" * 100_000 if action == "over_budget" else out

    scripted_convert.trainer = None
    monkeypatch.setattr(export, "convert", convert)
    return scripted_convert


def test_each_kind_of_trial_failure_fails_that_trial_only(tab_data, tmp_path, scripted_convert):
    script = ["inf", "convert_fails", "over_budget", "nan_loss", "ok"]
    trainer = ScriptedTrainer(tab_data, script)
    scripted_convert.trainer = trainer
    result = search_student(trainer, family="mlp", max_trials=5, epochs=1, budget={"max_bytes": 50_000},
                            directory=str(tmp_path))
    statuses = [t["status"] for t in result.trials]
    assert statuses == ["FAILED"] * 4 + ["COMPLETED"], statuses
    messages = [t["message"] for t in result.trials[:4]]
    assert "not finite" in messages[0]
    assert "does not convert to int8" in messages[1] and "scale out of expressed type range" in messages[1]
    assert "over budget after training" in messages[2]
    assert "loss became nan" in messages[3]
    assert result.best_trial_id == result.trials[-1]["trial_id"]
    assert np.isfinite(result.best_model.predict(tab_data["x_val"][:4], verbose=0)).all()


def test_when_every_trial_fails_the_search_says_why(tab_data, tmp_path, scripted_convert):
    trainer = ScriptedTrainer(tab_data, ["inf", "inf"])
    scripted_convert.trainer = trainer
    with pytest.raises(TrainingError, match="none of the 2 trials completed.*not finite"):
        search_student(trainer, family="mlp", max_trials=2, epochs=1, directory=str(tmp_path))
