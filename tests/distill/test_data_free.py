import numpy as np
import pytest

import tfcompress
from tfcompress.datasets import ArraySplit, DataSource
from tfcompress import keras
from tfcompress._keras import tf
from tfcompress.distill import Distill
from tfcompress.distill.data_free import GENERATOR_TERMS, DataFreeDistill, DataFreeDistiller
from tfcompress.distill.generator import GeneratorObjective, build_generator
from tfcompress.errors import ConfigError, ModelError
from tfcompress.stage import get_stage_class
from tfcompress.train import Trainer, accuracy

SMALL = {"latent_dim": 8, "generator_filters": 8, "synthetic_batch_size": 16}


@pytest.fixture
def tiny_teacher():
    return tfcompress.build_cnn((8, 8, 1), 10, filters=(4, 8), dense_units=8, name="tiny_teacher")


def _student():
    return tfcompress.build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16, name="student")


# ---------------------------------------------------------------- generator
def test_generator_output_shapes_and_ranges():
    z = tf.random.normal([32, 8])
    g = build_generator((8, 8, 1), latent_dim=8, filters=8)
    x = g(z, training=True).numpy()
    assert x.shape == (32, 8, 8, 1) and x.min() >= 0.0 and x.max() <= 1.0
    g = build_generator((6, 6, 2), latent_dim=8, filters=8, input_range=(-1, 1))
    x = g(z, training=True).numpy()
    assert x.shape == (32, 6, 6, 2) and x.min() < 0 < x.max() and np.abs(x).max() <= 1.0
    g = build_generator((5,), latent_dim=8, filters=8, input_range=None)  # standardised vectors
    x = g(z, training=True).numpy()
    assert x.shape == (32, 5)
    np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(x.std(0), 1.0, atol=1e-2)


@pytest.mark.parametrize("kwargs, match", [({"output_shape": (8, 8)}, "supports"),
                                           ({"output_shape": (8,), "input_range": (1, 0)}, "low < high"),
                                           ({"output_shape": (8,), "input_range": "wide"}, "pair")])
def test_generator_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_generator(**kwargs)


# ---------------------------------------------------------------- objective
def test_objective_terms_match_their_definitions(tiny_teacher):
    objective = GeneratorObjective(tiny_teacher)
    assert [layer.name for layer in objective.bn_layers] == ["bn0", "bn1"]
    x = np.random.default_rng(0).uniform(size=(64, 8, 8, 1)).astype("float32")
    terms, logits = objective(x)
    expected = tiny_teacher(x, training=False).numpy()
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-5)
    p = tf.nn.softmax(expected).numpy()
    one_hot = -np.mean(np.log(p[np.arange(64), p.argmax(1)]))
    mean_p = p.mean(0)
    entropy = np.log(10) + np.sum(mean_p * np.log(mean_p))
    assert terms["one_hot_loss"].numpy() == pytest.approx(one_hot, rel=1e-4)
    assert terms["entropy_loss"].numpy() == pytest.approx(entropy, rel=1e-4, abs=1e-6)
    features = keras.Model(tiny_teacher.inputs, tiny_teacher.get_layer("logits").input)(x).numpy()
    assert terms["activation_loss"].numpy() == pytest.approx(-np.abs(features).mean(), rel=1e-4)
    # Fresh BN layers hold mean 0, variance 1; inputs in [0, 1] through random convs do not.
    assert terms["bn_loss"].numpy() > 0.01


def test_probability_teacher_gives_the_same_terms(tiny_teacher):
    probs = keras.Model(tiny_teacher.inputs, keras.layers.Softmax()(tiny_teacher.outputs[0]))
    x = np.random.default_rng(1).uniform(size=(16, 8, 8, 1)).astype("float32")
    a, _ = GeneratorObjective(tiny_teacher)(x)
    b, _ = GeneratorObjective(probs, teacher_kind="probabilities")(x)
    for key in ("one_hot_loss", "entropy_loss", "bn_loss"):
        assert a[key].numpy() == pytest.approx(b[key].numpy(), rel=1e-4, abs=1e-6)


def test_bn_matching_is_off_without_batchnorm_or_weight(tiny_teacher):
    no_bn = tfcompress.build_cnn((8, 8, 1), 10, filters=(4,), dense_units=8, batch_norm=False)
    assert not DataFreeDistiller(_student(), no_bn, **SMALL).uses_bn_loss
    assert not DataFreeDistiller(_student(), tiny_teacher, bn_weight=0.0, **SMALL).uses_bn_loss
    assert DataFreeDistiller(_student(), tiny_teacher, **SMALL).uses_bn_loss


def test_subclassed_teacher_is_refused():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(10)

        def call(self, x):
            return self.dense(keras.layers.Flatten()(x))

    with pytest.raises(ModelError, match="subclassed"):
        GeneratorObjective(Sub())


# ---------------------------------------------------------------- distiller
def test_fit_without_data_distils_and_leaves_teacher_alone(digits, digits_teacher):
    student = _student()
    before = accuracy(student, digits["x_val"], digits["y_val"])
    teacher_weights = [w.copy() for w in digits_teacher.get_weights()]
    dfd = DataFreeDistiller(student, digits_teacher, latent_dim=32, generator_filters=32, synthetic_batch_size=64)
    generator_weights = [w.copy() for w in dfd.generator.get_weights()]
    dfd.compile(optimizer=keras.optimizers.Adam(1e-2), generator_optimizer=keras.optimizers.Adam(1e-2),
                metrics=["accuracy"])
    history = dfd.fit(epochs=2, steps_per_epoch=40, verbose=0).history
    assert set(history) == {"generator_loss", "distillation_loss", *GENERATOR_TERMS}
    assert all(np.isfinite(v).all() for v in history.values())
    for old, new in zip(teacher_weights, digits_teacher.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert any(np.abs(o - n).max() > 0 for o, n in zip(generator_weights, dfd.generator.get_weights()))
    logs = dfd.evaluate(digits["x_val"], digits["y_val"], verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(accuracy(student, digits["x_val"], digits["y_val"]), abs=1e-6)
    assert logs["accuracy"] > before + 0.15, (before, logs)  # 80 steps only; the benchmark trains for real


def test_fit_needs_steps_or_a_dummy_dataset(tiny_teacher):
    dfd = DataFreeDistiller(_student(), tiny_teacher, adversarial_weight=1.0, student_steps=2, **SMALL)
    dfd.compile(optimizer=keras.optimizers.Adam(1e-3))
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        dfd.fit(epochs=1)
    dummy = tf.data.Dataset.from_tensors(tf.zeros([1])).repeat(3)
    history = dfd.fit(dummy, epochs=1, verbose=0).history
    assert history["adversarial_loss"][0] < 0  # the generator sees the teacher-student gap
    assert dfd.sample(5).shape == (5, 8, 8, 1)


def test_constructor_and_compile_validate(tiny_teacher):
    with pytest.raises(ConfigError, match="entropy_weight"):
        DataFreeDistiller(_student(), tiny_teacher, entropy_weight=-1.0, **SMALL)
    with pytest.raises(ConfigError, match="generator outputs"):
        DataFreeDistiller(_student(), tiny_teacher, generator=build_generator((6, 6, 1), latent_dim=4))
    dfd = DataFreeDistiller(_student(), tiny_teacher, **SMALL)
    opt = keras.optimizers.Adam()
    with pytest.raises(ConfigError, match="two optimizer"):
        dfd.compile(optimizer=opt, generator_optimizer=opt)


def test_distiller_config_round_trip(tiny_teacher):
    dfd = DataFreeDistiller(_student(), tiny_teacher, temperature=2.0, bn_weight=0.5, input_range=(-1, 1), **SMALL)
    config = dfd.get_config()
    clone = DataFreeDistiller.from_config(config)
    assert clone.get_config()["temperature"] == 2.0 and clone.input_range == (-1.0, 1.0)
    assert {k: v for k, v in clone.get_config().items() if k not in ("student", "teacher", "generator")} == \
        {k: v for k, v in config.items() if k not in ("student", "teacher", "generator")}
    assert clone.generator.output_shape == dfd.generator.output_shape


# ---------------------------------------------------------------- stage
def test_stage_config_and_registration():
    stage = DataFreeDistill(epochs=3, input_range=[-1, 1], bn_weight=0.0)
    assert DataFreeDistill.from_config(stage.get_config()).get_config() == stage.get_config()
    assert get_stage_class("distill", "data_free") is DataFreeDistill
    assert get_stage_class("distill") is Distill  # the data-based stage stays the default
    with pytest.raises(ConfigError, match="input_range"):
        DataFreeDistill(input_range=[1, 1])


class _NoTrainingData(dict):
    """A data dict that fails the test if anyone reads the training split."""

    def __getitem__(self, key):
        if key in ("x_train", "y_train"):
            raise AssertionError(f"the data-free stage read {key}")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def items(self):
        raise AssertionError("the data-free stage iterated over the data")

    values = items


def test_stage_never_reads_the_training_set(digits, digits_teacher):
    data = _NoTrainingData(digits)
    with pytest.raises(AssertionError, match="x_train"):
        data["x_train"]
    trainer = Trainer.__new__(Trainer)  # Trainer.__init__ checks every split; this one may only see x_val/y_val
    val_only = DataSource({"val": ArraySplit("val", digits["x_val"], digits["y_val"])}, "validation split only")
    trainer.__dict__.update(data=data, source=val_only, teacher=digits_teacher, batch_size=64, learning_rate=3e-3,
                            distill_options={}, verbose=0, workdir=None)
    student = _student()
    initial = [w.copy() for w in student.get_weights()]
    stage = DataFreeDistill(epochs=1, steps_per_epoch=10, batch_size=32, latent_dim=16)
    assert stage.apply(student, trainer) is student
    report = stage.report
    assert report["training_data_read"] is False and report["bn_matching"] is True
    assert report["val_accuracy_teacher"] > 0.8
    assert report["val_accuracy_after"] == accuracy(student, digits["x_val"], digits["y_val"])
    assert all(np.abs(a - b).max() > 0 for a, b in zip(initial, student.get_weights()) if a.ndim > 1)
    assert set(report["final_losses"]) >= {"generator_loss", "distillation_loss"}


def test_stage_needs_teacher_and_student(digits_teacher):
    trainer = Trainer.__new__(Trainer)
    trainer.__dict__.update(data={}, teacher=None)
    with pytest.raises(ConfigError, match="needs a teacher"):
        DataFreeDistill().apply(_student(), trainer)
    trainer.teacher = digits_teacher
    with pytest.raises(ConfigError, match="needs a student"):
        DataFreeDistill().apply(digits_teacher, trainer)


def test_stage_stops_on_a_diverging_loss(digits, digits_teacher):
    """A learning rate that blows the student up ends in TrainingError naming the stage, not in a NaN model."""
    from tfcompress.errors import TrainingError

    trainer = Trainer(digits, teacher=digits_teacher)
    trainer.stage = "stage 2 (distill)"
    student = _student()
    initial = [w.copy() for w in student.get_weights()]
    stage = DataFreeDistill(epochs=2, steps_per_epoch=5, batch_size=16, latent_dim=8, learning_rate=1e30)
    with pytest.raises(TrainingError, match=r"^stage 2 \(distill\): the training's \w+_loss became nan"):
        stage.apply(student, trainer)
    for before, after in zip(initial, student.get_weights()):
        np.testing.assert_array_equal(before, after)  # the weights from before training are back
