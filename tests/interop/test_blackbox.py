"""Any teacher teaches: a Keras 3 model with a custom layer, a SavedModel signature and a .tflite file run as
black boxes for their outputs, and distil into a student."""

import textwrap

import numpy as np
import pytest

from tfcompress import build_cnn, keras, load_digits_data
from tfcompress.errors import ConfigError, ModelError
from tfcompress.export import convert, predict_tflite
from tfcompress.interop.blackbox import from_saved_model, is_black_box
from tfcompress.interop.teacher import custom_objects_from_module, load_teacher
from tfcompress.pipeline import Pipeline

keras3 = pytest.importorskip("keras")

LAYER_MODULE = textwrap.dedent("""
    import keras

    class TimesFactor(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}
""")


@pytest.fixture(scope="module")
def digits():
    return load_digits_data()


@pytest.fixture(scope="module")
def custom_teacher(digits, tmp_path_factory):
    """A Keras 3 teacher file with one custom layer (x * factor), defined in a module of the user's code."""
    folder = tmp_path_factory.mktemp("custom")
    module = folder / "user_layers_blackbox.py"
    module.write_text(LAYER_MODULE)
    objects = custom_objects_from_module(str(module))
    keras3.utils.set_random_seed(0)
    model = keras3.Sequential([keras3.Input((8, 8, 1)), keras3.layers.Conv2D(8, 3, activation="relu"),
                               objects["TimesFactor"](0.5), keras3.layers.Flatten(),
                               keras3.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits["x_train"], digits["y_train"], epochs=6, verbose=0)
    path = folder / "teacher.keras"
    model.save(path)
    return path, model, objects, module


def test_an_unknown_custom_class_is_named_with_the_option_that_fixes_it(custom_teacher):
    path = custom_teacher[0]
    with pytest.raises(ModelError, match=r"'TimesFactor'.*custom_objects=.*--custom-objects MODULE"):
        load_teacher(str(path))


def test_a_custom_layer_teacher_runs_as_a_keras3_black_box(custom_teacher, digits):
    path, model, objects, _ = custom_teacher
    teacher = load_teacher(str(path), custom_objects=objects)
    assert is_black_box(teacher) and teacher.black_box["kind"] == "keras3"
    assert teacher.black_box["params"] == model.count_params() and teacher.count_params() == 0
    x = digits["x_test"][:64]
    # softmax outputs come back as log-probabilities: logits of the same distribution
    np.testing.assert_allclose(np.exp(teacher.predict(x, verbose=0)), model.predict(x, verbose=0), atol=1e-5)
    flat = convert(teacher, "int8", digits["x_train"][:100])  # the black box still converts and measures
    agree = np.mean(predict_tflite(flat, x).argmax(-1) == model.predict(x, verbose=0).argmax(-1))
    assert agree > 0.9
    with pytest.raises(ModelError, match="black-box teacher cannot be saved or cloned"):
        keras.models.clone_model(teacher)


def test_a_tflite_teacher_gives_its_interpreter_outputs(digits, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits["x_train"], digits["y_train"], epochs=3, verbose=0)
    path = tmp_path / "teacher.tflite"
    path.write_bytes(convert(model, "int8", digits["x_train"]))
    teacher = load_teacher(str(path))
    assert teacher.black_box["kind"] == "tflite" and teacher.output_shape == (None, 10)
    x = digits["x_test"][:50]
    np.testing.assert_allclose(teacher.predict(x, verbose=0), predict_tflite(str(path), x), atol=1e-6)
    lines = []
    student = build_cnn((8, 8, 1), 10, filters=(4,), dense_units=8, name="student")
    report = Pipeline([{"distill": {"epochs": 2}}], teacher=str(path), student=student, latency_runs=0).run(
        digits, str(tmp_path / "run"), log=lines.append)
    assert any("(the .tflite file, int8)" in line for line in lines)  # measured as the file it is, not converted
    assert report["teacher"]["int8"]["tflite_bytes"] == path.stat().st_size


def test_a_saved_model_signature_teaches(digits, tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16)
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda x: {"scores": model(x, training=False)},
                               input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="x")])
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.serve})
    teacher = load_teacher(str(tmp_path / "sm"))
    assert teacher.black_box["kind"] == "saved_model"
    x = digits["x_test"][:20]
    np.testing.assert_allclose(teacher.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ModelError, match="no signature 'other'"):
        from_saved_model(str(tmp_path / "sm"), signature="other")


def test_a_black_box_teacher_distils_a_student_and_refuses_stages_on_itself(custom_teacher, digits, tmp_path):
    path, model, objects, _ = custom_teacher
    student = build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16, name="student")
    lines = []
    report = Pipeline([{"distill": {"epochs": 4}}, {"export": {"format": "int8"}}], teacher=str(path),
                      student=student, latency_runs=0).run(digits, str(tmp_path / "run"), log=lines.append,
                                                           custom_objects=objects)
    assert any("runs as a black box (keras3" in line for line in lines)
    assert report["summary"]["final_accuracy"] > 0.3  # taught: a fresh student scores about 0.1
    assert report["teacher"]["float32"]["params"] == model.count_params()
    with pytest.raises(ConfigError, match=r"black box.*stage 1 \('prune'\) cannot change the teacher"):
        Pipeline([{"prune": {"sparsity": 0.5}}], teacher=str(path), latency_runs=0).run(
            digits, str(tmp_path / "refused"), log=lines.append, custom_objects=objects)
    with pytest.raises(ConfigError, match=r"feature_distill\) needs the teacher.s inner layers"):
        Pipeline([{"feature_distill": {"epochs": 1}}], teacher=str(path), student=student, latency_runs=0).run(
            digits, str(tmp_path / "refused2"), log=lines.append, custom_objects=objects)


def test_the_command_takes_custom_objects_from_a_module(custom_teacher, digits, tmp_path):
    from tfcompress.cli import main

    path, _, _, module = custom_teacher
    np.savez(tmp_path / "data.npz", **digits)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"teacher: {path}\ndata: data.npz\noutput: out\nlatency_runs: 0\n"
                      "student: {family: cnn, filters: [4], dense_units: 8}\nstages:\n  - distill: {epochs: 1}\n")
    assert main(["run", str(recipe), "--quiet", "--custom-objects", str(module)]) == 0
    assert (tmp_path / "out" / "report.json").exists()
    with pytest.raises(ConfigError, match="--custom-objects 'no_such_module_xyz'"):
        custom_objects_from_module("no_such_module_xyz")
