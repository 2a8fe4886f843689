import numpy as np
import pytest

import tfcompress
from tfcompress import keras
from tfcompress.distill import Distiller, StandardizedKL
from tfcompress.errors import ConfigError, DataError, ModelError, ShapeError


def small_student(data, **kw):
    return tfcompress.build_mlp(data["x_train"].shape[1:], 10, units=(32,), **kw)


def make(digits, teacher, **kw):
    d = Distiller(student=small_student(digits), teacher=teacher, **kw)
    d.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    return d


def test_fit_trains_student_and_leaves_teacher_unchanged(digits, digits_teacher):
    before = [w.copy() for w in digits_teacher.get_weights()]
    d = make(digits, digits_teacher)
    s0 = [w.copy() for w in d.student.get_weights()]
    history = d.fit(digits["x_train"], digits["y_train"], epochs=4, batch_size=64, verbose=0)
    for a, b in zip(before, digits_teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(s0, d.student.get_weights()))
    assert history.history["loss"][-1] < history.history["loss"][0]
    result = d.evaluate(digits["x_test"], digits["y_test"], verbose=0, return_dict=True)
    assert {"loss", "student_loss", "distillation_loss", "accuracy"} <= set(result)
    assert result["accuracy"] > 0.3  # well above chance (0.1) after a few epochs
    np.testing.assert_allclose(d.predict(digits["x_test"][:8], verbose=0),
                               d.student.predict(digits["x_test"][:8], verbose=0), rtol=1e-5)


def test_student_saves_and_loads_by_itself(digits, digits_teacher, tmp_path):
    d = make(digits, digits_teacher)
    d.fit(digits["x_train"][:128], digits["y_train"][:128], epochs=1, verbose=0)
    path = str(tmp_path / "student.keras")
    d.student.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(digits["x_test"][:16], verbose=0),
                               d.student.predict(digits["x_test"][:16], verbose=0), rtol=1e-5, atol=1e-6)


def test_one_hot_labels_and_sample_weights(digits, digits_teacher):
    d = make(digits, digits_teacher)
    y = np.eye(10, dtype="float32")[digits["y_train"][:128]]
    w = np.ones(128, dtype="float32")
    h = d.fit(digits["x_train"][:128], y, sample_weight=w, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])


def test_cached_and_uncached_teacher_give_the_same_losses(digits, digits_teacher):
    x, y = digits["x_val"], digits["y_val"]
    d = make(digits, digits_teacher)
    plain = d.evaluate(x, y, verbose=0, return_dict=True)
    cached = d.evaluate(x, d.cached_targets(x, y), verbose=0, return_dict=True)
    for key in ("loss", "student_loss", "distillation_loss", "accuracy"):
        assert cached[key] == pytest.approx(plain[key], rel=1e-4), key


class SampleCounter(keras.layers.Layer):
    """Identity layer that counts the samples flowing through it (at run time, not trace time)."""

    def build(self, input_shape):
        self.seen = self.add_weight(name="seen", shape=(), initializer="zeros", trainable=False)

    def call(self, x):
        self.seen.assign_add(tfcompress.tf.cast(tfcompress.tf.shape(x)[0], "float32"))
        return x


def counting_teacher(teacher):
    inputs = keras.Input(teacher.input_shape[1:])
    counter = SampleCounter()
    return keras.Model(inputs, teacher(counter(inputs))), counter


@pytest.mark.parametrize("cache, passes", [("auto", 1), (False, 3)])
def test_teacher_cache_runs_the_teacher_once(digits, digits_teacher, cache, passes):
    teacher, counter = counting_teacher(digits_teacher)
    d = Distiller(student=small_student(digits), teacher=teacher, cache_teacher=cache)
    d.compile(optimizer="adam")
    d.fit(digits["x_train"][:256], digits["y_train"][:256], epochs=3, batch_size=64, verbose=0)
    assert float(counter.seen.numpy()) == 256 * passes


def test_cache_refuses_datasets(digits, digits_teacher):
    d = make(digits, digits_teacher, cache_teacher=True)
    ds = tfcompress.tf.data.Dataset.from_tensor_slices((digits["x_train"], digits["y_train"])).batch(32)
    with pytest.raises(ConfigError, match="augmentation"):
        d.fit(ds, epochs=1, verbose=0)


def test_teacher_probabilities_are_detected_and_equivalent_to_logits(digits, digits_teacher):
    probs_teacher = keras.Model(digits_teacher.inputs, keras.layers.Softmax()(digits_teacher.outputs[0]))
    x, y = digits["x_val"][:64], digits["y_val"][:64]
    student = small_student(digits)
    a = Distiller(student=student, teacher=digits_teacher)
    b = Distiller(student=student, teacher=probs_teacher)
    assert b._teacher_kind == "probabilities" and a._teacher_kind == "logits"
    for d in (a, b):
        d.compile(optimizer="adam")
    ra = a.evaluate(x, y, verbose=0, return_dict=True)
    rb = b.evaluate(x, y, verbose=0, return_dict=True)
    assert ra["distillation_loss"] == pytest.approx(rb["distillation_loss"], rel=1e-3)


def test_errors_before_training(digits, digits_teacher):
    with pytest.raises(ShapeError, match="output shape"):
        Distiller(student=tfcompress.build_mlp((8, 8, 1), 5), teacher=digits_teacher)
    with pytest.raises(ShapeError, match="input shape"):
        Distiller(student=tfcompress.build_mlp((64,), 10), teacher=digits_teacher)
    with pytest.raises(ModelError, match="not built"):
        Distiller(student=keras.Sequential([keras.layers.Dense(10)]), teacher=digits_teacher)
    d = make(digits, digits_teacher)
    before = [w.copy() for w in d.student.get_weights()]
    with pytest.raises(DataError, match="out of range"):
        d.fit(digits["x_train"], digits["y_train"] + 5, epochs=1, verbose=0)
    with pytest.raises(ShapeError, match="expect"):
        d.fit(digits["x_train"].reshape(-1, 64), digits["y_train"], epochs=1, verbose=0)
    for a, b in zip(before, d.student.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="alpha"):
        Distiller(student=small_student(digits), teacher=digits_teacher, alpha=1.5)


def test_callbacks_work(digits, digits_teacher, tmp_path):
    d = make(digits, digits_teacher)
    lrs = []
    record = keras.callbacks.LambdaCallback(
        on_batch_end=lambda b, logs: lrs.append(float(keras.backend.get_value(d.optimizer.learning_rate))))
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=1),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt.weights.h5"), save_weights_only=True),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
        keras.callbacks.TensorBoard(str(tmp_path / "tb")),
        record,
    ]
    d.fit(digits["x_train"][:256], digits["y_train"][:256], epochs=2, batch_size=64,
          validation_data=(digits["x_val"], digits["y_val"]), callbacks=callbacks, verbose=0)
    assert (tmp_path / "ckpt.weights.h5").exists()
    assert any((tmp_path / "tb").iterdir())
    # the default cosine schedule decays within the fit and restores the peak afterwards
    assert lrs[0] > lrs[-1] and lrs[-1] < 0.1 * 3e-3
    assert float(keras.backend.get_value(d.optimizer.learning_rate)) == pytest.approx(3e-3)


def test_constant_lr_when_schedule_disabled(digits, digits_teacher):
    d = Distiller(student=small_student(digits), teacher=digits_teacher)
    d.compile(optimizer=keras.optimizers.Adam(1e-3), lr_schedule=None, distillation_loss=StandardizedKL())
    d.fit(digits["x_train"][:64], digits["y_train"][:64], epochs=1, verbose=0)
    assert float(keras.backend.get_value(d.optimizer.learning_rate)) == pytest.approx(1e-3)
    assert isinstance(d.distillation_loss_fn, StandardizedKL)


def test_config_round_trip(digits, digits_teacher):
    d = Distiller(student=small_student(digits), teacher=digits_teacher, temperature=2.5, alpha=0.3)
    again = Distiller.from_config(d.get_config())
    assert (again.temperature, again.alpha) == (2.5, 0.3)
    assert again.student.count_params() == d.student.count_params()
