"""NaN guard: a diverging loss stops training with the last good weights and a clear TrainingError."""

import numpy as np
import pytest

from tfcompress import build_mlp
from tfcompress._keras import keras
from tfcompress.errors import TrainingError
from tfcompress.guards import NanGuard, with_nan_guard
from tfcompress.train import Trainer


def _data(n=64, scale=1.0):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(n, 6)) * scale).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    return {"x_train": x, "y_train": y, "x_val": x[:16], "y_val": y[:16]}


def test_diverging_fit_raises_and_restores_the_weights_from_before_training():
    model = build_mlp((6,), 2, units=(8,))
    start = [w.copy() for w in model.get_weights()]
    trainer = Trainer(_data(), batch_size=16, learning_rate=1e30)
    trainer.stage = "stage 3 (prune)"
    with pytest.raises(TrainingError) as info:
        trainer.fit(model, epochs=3)
    message = str(info.value)
    assert message.startswith("stage 3 (prune): the training loss became")
    assert "epoch 1, batch" in message and "learning rate (now 1e+30)" in message
    assert "\n" not in message
    for before, after in zip(start, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_guard_keeps_the_last_finite_epoch():
    """After a good first epoch, a NaN in epoch 2 restores the epoch-1 weights (not the initial ones)."""
    model = build_mlp((6,), 2, units=(8,))
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = _data()
    snapshots = {}

    class Poison(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                snapshots["epoch1"] = [w.copy() for w in self.model.get_weights()]
                poisoned = [np.full_like(w, np.nan) for w in self.model.get_weights()]
                self.model.set_weights(poisoned)

    guard = NanGuard("unit", learning_rate=0.1)
    with pytest.raises(TrainingError, match=r"unit: .* at epoch 2, batch 1; .*weights after epoch 1 were restored"):
        model.fit(data["x_train"], data["y_train"], batch_size=16, epochs=3, verbose=0, callbacks=[guard, Poison()])
    for good, now in zip(snapshots["epoch1"], model.get_weights()):
        np.testing.assert_array_equal(good, now)
        assert np.all(np.isfinite(now))


def test_with_nan_guard_adds_one_guard_only():
    callbacks = with_nan_guard(None, "x")
    assert [type(c) for c in callbacks] == [NanGuard]
    assert with_nan_guard(callbacks, "y") == callbacks


def test_finite_training_is_untouched():
    model = build_mlp((6,), 2, units=(8,))
    history = Trainer(_data(), batch_size=16, learning_rate=1e-2).fit(model, epochs=2)
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))


def test_pipeline_stops_on_nan_and_exports_nothing(files, tmp_path, capsys):
    """A recipe whose learning rate makes the loss explode ends with one error line and no model file."""
    from fault_helpers import write_recipe

    from tfcompress.cli import main

    recipe = write_recipe(tmp_path, str(files / "teacher.keras"), str(files / "data.npz"),
                          stages="  - distill: {epochs: 3, learning_rate: 1.0e+30}\n  - export: {}\n")
    assert main(["run", recipe, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: stage 1 (distill): the training loss became") and err.count("\n") == 1, err
    assert "Lower the learning rate (now 1e+30)" in err
    out = tmp_path / "out"
    assert not (out / "model.tflite").exists() and not (out / "stage_2_export").exists()
    assert not (out / "state" / "stage_1.keras").exists()  # the diverged model is not saved as finished


class _PoisonAfterFirstBatch(keras.callbacks.Callback):
    """Set every weight to NaN after the first batch: the next loss is NaN on every CPU (no rounding involved)."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.model.set_weights([np.full_like(w, np.nan) for w in self.model.get_weights()])


def test_diverging_search_trials_fail_and_the_run_stops(files, tmp_path, capsys, monkeypatch):
    """Each search trial runs under the guard: diverged trials fail, and with none left the run stops."""
    from fault_helpers import write_recipe

    from tfcompress.cli import main

    real_fit = Trainer.fit

    def diverging_fit(self, model, epochs, callbacks=None, **kwargs):
        return real_fit(self, model, epochs, callbacks=list(callbacks or []) + [_PoisonAfterFirstBatch()], **kwargs)

    monkeypatch.setattr(Trainer, "fit", diverging_fit)
    recipe = write_recipe(tmp_path, str(files / "teacher.keras"), str(files / "data.npz"), extra="",
                          stages="  - search: {max_trials: 2, epochs: 1, budget: {max_bytes: 200000}}\n")
    assert main(["run", recipe, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "none of the 2 trials completed" in err and "the training loss became nan" in err
    assert not (tmp_path / "out" / "model.tflite").exists()
