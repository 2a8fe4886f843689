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
    # the user's optimizer is used as given: a constant 3e-3, as a plain Keras model would train
    assert lrs[0] == lrs[-1] == pytest.approx(3e-3)


def test_cosine_schedule_only_when_asked_for_or_without_an_optimizer(digits, digits_teacher):
    def rates(**compile_kwargs):
        d = Distiller(student=small_student(digits), teacher=digits_teacher)
        d.compile(metrics=["accuracy"], **compile_kwargs)
        seen = []
        record = keras.callbacks.LambdaCallback(
            on_batch_end=lambda b, logs: seen.append(float(keras.backend.get_value(d.optimizer.learning_rate))))
        d.fit(digits["x_train"][:128], digits["y_train"][:128], epochs=2, batch_size=32, verbose=0,
              callbacks=[record])
        return seen, float(keras.backend.get_value(d.optimizer.learning_rate))

    asked, after = rates(optimizer=keras.optimizers.Adam(3e-3), lr_schedule="cosine")
    assert asked[0] > asked[-1] and asked[-1] < 0.1 * 3e-3 and after == pytest.approx(3e-3)  # peak restored
    default, _ = rates()  # no optimizer: the measured default, Adam 1e-2 with cosine decay
    assert default[0] > default[-1] and default[0] == pytest.approx(1e-2, rel=0.2)


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


def test_keras3_style_arguments_mean_what_they_mean_in_keras(digits, digits_teacher):
    from tfcompress.distill import FeatureDistillation, LogitsDistillation

    d = Distiller(teacher=digits_teacher, student=tfcompress.build_cnn((8, 8, 1), 10, filters=(4,), name="s"),
                  distillation_losses=[LogitsDistillation(temperature=3.0),
                                       FeatureDistillation(teacher_layer_name="relu1", student_layer_name="relu0")],
                  distillation_loss_weights=[1.0, 0.5], student_loss_weight=0.3)
    assert (d.alpha, d.temperature, d.distillation_loss_weights) == (0.3, 3.0, [1.0, 0.5])
    d.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    history = d.fit(digits["x_train"][:128], digits["y_train"][:128], epochs=2, batch_size=32, verbose=0)
    assert {"student_loss", "distillation_loss", "feature_loss"} <= set(history.history)
    # the loss is student_loss_weight * student + (1 - student_loss_weight) * sum of weighted losses
    x, y = tfcompress.tf.constant(digits["x_train"][:32]), tfcompress.tf.constant(digits["y_train"][:32])
    _, _, named = d.compute_losses(x, y, None, training=False)
    np.testing.assert_allclose(float(named["loss"]), 0.3 * float(named["student_loss"])
                               + 0.7 * float(named["distillation_loss"]), rtol=1e-5)
    config = d.get_config()
    assert [c["class_name"] for c in config["distillation_losses"]] == ["LogitsDistillation",
                                                                      "FeatureDistillation"]
    again = Distiller.from_config(config)
    assert again.distillation_loss_weights == [1.0, 0.5] and again.alpha == 0.3
    assert again.distillation_losses[1].teacher_layer_name == "relu1"


def test_models_by_name_and_one_weight_of_the_labels(digits, digits_teacher):
    student = small_student(digits)
    with pytest.raises(ConfigError, match="by name"):
        Distiller(digits_teacher, student)
    with pytest.raises(ConfigError, match="two names"):
        Distiller(student=student, teacher=digits_teacher, alpha=0.1, student_loss_weight=0.5)
    with pytest.raises(ConfigError, match="LogitsDistillation"):
        from tfcompress.distill import LogitsDistillation

        Distiller(student=student, teacher=digits_teacher, temperature=3, distillation_losses=LogitsDistillation())
    with pytest.raises(ConfigError, match="distillation_loss_weights"):
        Distiller(student=student, teacher=digits_teacher, distillation_loss_weights=[1.0, 2.0])


def test_dkd_at_its_defaults_is_warmed_up_and_learns(digits, digits_teacher):
    """DKD's raw value dwarfs the label loss at first; warmed up (its paper's recipe) it does not drown them."""
    from tfcompress.distill import LogitsDistillation

    spec = LogitsDistillation(loss="dkd")
    assert spec.warmup_epochs > 0 and LogitsDistillation(loss="kl").warmup_epochs == 0
    keras.utils.set_random_seed(0)
    d = Distiller(student=small_student(digits), teacher=digits_teacher, distillation_losses=[spec])
    d.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    factors = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: factors.append(float(d._warmups[0].numpy())))
    d.fit(digits["x_train"], digits["y_train"], epochs=6, batch_size=32, verbose=0, callbacks=[record])
    assert d.alpha == 0.5  # labels weigh as much as DKD, as in the paper's recipe
    assert factors == pytest.approx([min(1.0, (e + 1) / spec.warmup_epochs) for e in range(6)])
    assert float(d._warmups[0].numpy()) == 1.0  # reset after fit
    accuracy = d.evaluate(digits["x_val"], digits["y_val"], verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.8
