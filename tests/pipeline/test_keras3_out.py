"""Every run hands the float student back in Keras 3 (``student_keras3.keras``), listed in the report."""

import json

import numpy as np
import pytest

from tfcompress import build_cnn, keras, load_digits_data
from tfcompress.pipeline import Pipeline
from tfcompress.pipeline.keras3_out import last_float_entry

keras3 = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def digits():
    data = load_digits_data()
    keras.utils.set_random_seed(0)
    teacher = build_cnn((8, 8, 1), 10, filters=(16,), dense_units=32, name="teacher")
    teacher.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], epochs=4, verbose=0)
    return data, teacher


def test_the_run_writes_the_last_float_student_as_keras3(tmp_path, digits):
    data, teacher = digits
    student = build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16, name="student")
    stages = [{"distill": {"epochs": 2}}, {"quantize": {"method": "qat", "epochs": 1}}, {"export": {"format": "int8"}}]
    report = Pipeline(stages, teacher=teacher, student=student, latency_runs=0).run(data, str(tmp_path),
                                                                                    log=lambda line: None)
    k3 = report["keras3_student"]
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    float_stages = [e["index"] + 1 for e in state["finished"] if e["model"].endswith(".keras")]
    assert k3["file"] == "student_keras3.keras" and k3["stage"] == max(float_stages)  # a QAT model is .h5
    assert json.loads((tmp_path / "report.json").read_text())["files"]["keras3_student"] == k3["file"]
    assert "Keras 3 student" in (tmp_path / "report.md").read_text()
    loaded = keras3.models.load_model(tmp_path / k3["file"])
    x, y = data["x_test"], data["y_test"]
    accuracy = float(np.mean(np.argmax(loaded.predict(x, verbose=0), -1) == y))
    assert accuracy == pytest.approx(k3["accuracy"]) == pytest.approx(k3["tf_keras_accuracy"], abs=1 / len(y))
    assert accuracy > 0.5  # a trained student, not a fresh one


def test_last_float_entry_skips_wrapped_models():
    finished = [{"index": 0, "model": "s/stage_1.keras"}, {"index": 1, "model": "s/stage_2.h5"}]
    assert last_float_entry(finished)["index"] == 0
    assert last_float_entry(finished[1:]) is None


def test_a_model_that_cannot_be_carried_is_reported_not_fatal(tmp_path):
    from tfcompress.pipeline.keras3_out import write_keras3_student

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0, name="double")(keras.layers.Dense(3)(inputs)))
    data = {"x_val": np.zeros((4, 4), "float32"), "y_val": np.zeros(4, "int32")}
    out = write_keras3_student([{"index": 1, "model": "stage_2.keras"}], data, str(tmp_path), load=lambda p: model)
    assert out["stage"] == 2 and "'double'" in out["error"] and not (tmp_path / "student_keras3.keras").exists()
