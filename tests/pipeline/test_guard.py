"""No stage makes the model silently worse: a stage that lowers int8 validation accuracy is caught."""

import json

import numpy as np
import pytest

from tfcompress import build_mlp, keras, make_tabular_data
from tfcompress.errors import ConfigError
from tfcompress.pipeline import Pipeline
from tfcompress.pipeline.guard import StageGuard
from tfcompress.stage import Stage


class _Fake:
    judged, reduces_size = True, False


def _m(val, nbytes=1000, gz=900):
    return {"val_accuracy": val, "tflite_bytes": nbytes, "gzip_bytes": gz}


def test_judge_keeps_reverts_or_warns():
    guard = StageGuard(0.01)
    assert guard.judge(_Fake(), _m(0.90), _m(0.90))["kept"] == "output"  # no worse
    assert guard.judge(_Fake(), _m(0.90), _m(0.95))["kept"] == "output"
    slightly = guard.judge(_Fake(), _m(0.90), _m(0.895))  # within the tolerance, but the file is no smaller
    assert slightly["kept"] == "input" and "no smaller" in slightly["reason"]
    worse = guard.judge(_Fake(), _m(0.90), _m(0.85))
    assert worse["kept"] == "input" and "90.00% -> 85.00%" in worse["reason"] and not worse["warning"]
    shrink = type("Shrink", (), {"judged": True, "reduces_size": True})()
    within = guard.judge(shrink, _m(0.90, 1000), _m(0.895, 500))
    assert within["kept"] == "output" and not within["warning"] and within["reason"] is None
    kept = guard.judge(shrink, _m(0.90, 1000), _m(0.85, 500))
    assert kept["kept"] == "output" and kept["warning"] and "smaller (1,000 -> 500 B)" in kept["reason"]
    assert guard.judge(shrink, _m(0.90, 1000, 900), _m(0.895, 990, 890))["kept"] == "input"  # nothing gained
    sparse = guard.judge(shrink, _m(0.90, 1000, 900), _m(0.85, 1000, 400))  # magnitude pruning: only gzip shrinks
    assert sparse["kept"] == "output" and "gzipped file is smaller (900 -> 400 B)" in sparse["reason"]
    not_judged = type("Search", (), {"judged": False})()
    assert guard.judge(not_judged, _m(0.99), _m(0.10)) == {"judged": False, "kept": "output", "warning": False,
                                                           "reason": None}
    assert StageGuard(0.001, val_samples=50).tolerance == pytest.approx(0.02)  # at least one sample


class Scramble(Stage):
    """A stage that ruins the model (weights shuffled), as a badly tuned stage could; in place or in a copy."""

    name = "scramble"

    def __init__(self, in_place=False):
        self.in_place = in_place

    def apply(self, model, trainer):
        out = model if self.in_place else keras.models.clone_model(model)
        rng = np.random.default_rng(0)
        out.set_weights([rng.permutation(w.ravel()).reshape(w.shape) * 3 for w in model.get_weights()])
        self._report = {"scrambled": True}
        return out


@pytest.mark.parametrize("in_place", [False, True])
def test_a_stage_that_lowers_validation_accuracy_is_reverted_and_reported(tmp_path, in_place):
    data = make_tabular_data(n_samples=400, n_features=8, n_classes=3)
    keras.utils.set_random_seed(0)
    teacher = build_mlp((8,), 3, units=(32,), name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], epochs=8, verbose=0)
    student = keras.models.clone_model(teacher)  # a student as good as the teacher, scrambled by the stage
    student.set_weights(teacher.get_weights())
    lines = []
    report = Pipeline([Scramble(in_place), {"quantize": {"method": "ptq"}}], teacher=teacher, student=student,
                      latency_runs=0).run(data, str(tmp_path), log=lines.append)
    row = report["stages"][0]
    assert row["report"]["guard"]["kept"] == "input"
    assert row["after"]["val_accuracy"] == row["before"]["val_accuracy"]  # the run went on with the input
    assert report["summary"]["reverted_stages"] == [1]
    assert any("the stage's input was kept" in line for line in lines)
    assert "the stage's input was kept" in (tmp_path / "report.md").read_text()
    saved = json.loads((tmp_path / "report.json").read_text())
    # the exported file is the unscrambled model's, also when the stage had scrambled its input in place
    assert saved["summary"]["final_accuracy"] == pytest.approx(report["teacher"]["int8"]["accuracy"])


def test_tolerance_is_checked():
    with pytest.raises(ConfigError, match="tolerance"):
        Pipeline([{"quantize": {"method": "ptq"}}], tolerance=2)
