"""Data-free distillation: a generator synthesises the inputs, the teacher labels them (DAFL, DeepInversion).

``DataFreeDistiller`` trains two models in turn at every step.  The generator
learns to produce inputs on which the frozen teacher is confident (one-hot
loss), strongly activated (activation loss) and class-balanced over the batch
(information-entropy loss) — DAFL (Chen et al., ICCV'19) — and, optionally,
whose statistics before each teacher BatchNorm layer match the running
statistics stored there (DeepInversion, Yin et al., CVPR'20), and on which
teacher and student still disagree (adversarial term, DFAD, Fang et al. 2019).
The student then learns the teacher's softened outputs on those inputs.  No
training data is read; a labelled set is only needed to *measure* the student.
"""

import time

from tfcompress._keras import keras, tf
from tfcompress.distill import defaults, losses as kd_losses
from tfcompress.distill.checks import check_pair, output_kind, to_logits
from tfcompress.distill.distiller import tracked_metrics
from tfcompress.distill.generator import GeneratorObjective, build_generator, check_input_range
from tfcompress.distill.schedule import CosineDecay
from tfcompress.errors import ConfigError
from tfcompress.guards import with_nan_guard
from tfcompress.stage import Stage, check_number, is_number, refuse_option, register_stage

GENERATOR_TERMS = ("one_hot_loss", "activation_loss", "entropy_loss", "bn_loss", "adversarial_loss")


@keras.utils.register_keras_serializable(package="tfcompress")
class DataFreeDistiller(keras.Model):
    """Distil ``teacher`` into ``student`` on inputs synthesised by a generator, without training data.

    Each training step draws ``synthetic_batch_size`` latent vectors, updates the generator on
    ``one_hot_weight * one_hot + activation_weight * activation + entropy_weight * entropy + bn_weight * bn -
    adversarial_weight * |teacher - student|``, then updates the student ``student_steps`` times on the
    distillation loss (KL at ``temperature``) between teacher and student outputs on generated inputs (the first
    student step reuses the generator step's batch).  There is no data to iterate, so ``fit`` takes no ``x``:
    ``dfd.fit(epochs=E, steps_per_epoch=S)`` (an endless dummy dataset drives the steps). ``evaluate(x, y)`` on
    real labelled data measures the student.  Metrics: ``generator_loss``, ``distillation_loss`` and each
    generator term.

    Example:
        >>> from tfcompress import build_cnn, keras
        >>> from tfcompress.distill.data_free import DataFreeDistiller
        >>> teacher = build_cnn((8, 8, 1), 10, filters=(8,))
        >>> student = build_cnn((8, 8, 1), 10, filters=(4,), dense_units=0)
        >>> dfd = DataFreeDistiller(student, teacher, latent_dim=8, generator_filters=8, synthetic_batch_size=16)
        >>> dfd.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> history = dfd.fit(epochs=1, steps_per_epoch=2, verbose=0)
        >>> sorted(history.history)[:2]
        ['activation_loss', 'adversarial_loss']

    Args:
        student: the ``tf_keras`` model to train.
        teacher: a trained functional ``tf_keras`` model with the same input and output shapes; it is frozen.
        generator: a ``tf_keras`` model ``[batch, latent_dim] -> inputs``; None builds one with
            ``build_generator``. Defaults to None.
        latent_dim: latent size of the built generator (read from ``generator`` when given). Defaults to 64.
        generator_filters: width of the built generator. Defaults to 64.
        input_range: ``(low, high)`` of the teacher's training inputs, or None for standardised inputs (used by
            the built generator). Defaults to (0, 1).
        synthetic_batch_size: generated inputs per step (per replica). Defaults to 128.
        temperature: temperature of the distillation loss. Defaults to ``defaults.TEMPERATURE``.
        one_hot_weight: weight of the teacher-confidence loss. Defaults to 1.0.
        activation_weight: weight of the negative L1 norm of the teacher's penultimate features. Defaults to 0.1.
        entropy_weight: weight of the class-balance loss (``log C`` minus the entropy of the batch-mean teacher
            softmax). Defaults to 5.0.
        bn_weight: weight of BatchNorm-statistics matching; ignored (reported 0) when the teacher has no top-level
            BatchNormalization layer. 0 turns it off. Defaults to 3.0 (digits validation, 600 steps: 95.6% vs
            91.7% at 1.0 and 84.4% at 0; ``benchmarks/results/data_free.grid.md``).
        adversarial_weight: weight of the teacher-student discrepancy the generator maximises. Defaults to 0.0.
        student_steps: student updates per generator update. Defaults to 1.
        feature_layer: name of the teacher layer whose output are the penultimate features; None takes the
            input of the last Dense/Conv2D layer. Defaults to None.
        teacher_outputs: ``"logits"``, ``"probabilities"`` or ``"auto"``. Defaults to "auto".
    """

    def __init__(self, student, teacher, generator=None, latent_dim=64, generator_filters=64, input_range=(0.0, 1.0),
                 synthetic_batch_size=128, temperature=defaults.TEMPERATURE, one_hot_weight=1.0,
                 activation_weight=0.1, entropy_weight=5.0, bn_weight=3.0, adversarial_weight=0.0, student_steps=1,
                 feature_layer=None, teacher_outputs="auto", name="data_free_distiller", **kwargs):
        super().__init__(name=name, **kwargs)
        check_pair(student, teacher)
        weights = {"one_hot_weight": one_hot_weight, "activation_weight": activation_weight,
                   "entropy_weight": entropy_weight, "bn_weight": bn_weight, "adversarial_weight": adversarial_weight}
        for arg, value in weights.items():
            if not value >= 0:
                raise ConfigError(f"{arg} must be >= 0, received {value!r}.")
        if not temperature > 0:
            raise ConfigError(f"temperature must be > 0, received {temperature!r}.")
        if int(synthetic_batch_size) < 2 or int(student_steps) < 1:
            raise ConfigError(f"synthetic_batch_size must be >= 2 and student_steps >= 1, received "
                              f"{synthetic_batch_size!r} and {student_steps!r}.")
        if teacher_outputs not in ("auto", "logits", "probabilities"):
            raise ConfigError(f"teacher_outputs must be 'auto', 'logits' or 'probabilities', "
                              f"received {teacher_outputs!r}.")
        self.input_range = check_input_range(input_range)
        if generator is None:
            generator = build_generator(teacher.input_shape[1:], latent_dim=latent_dim, filters=generator_filters,
                                        input_range=self.input_range)
        elif tuple(generator.output_shape[1:]) != tuple(teacher.input_shape[1:]):
            raise ConfigError(f"the generator outputs shape {tuple(generator.output_shape[1:])} but the teacher "
                              f"reads {tuple(teacher.input_shape[1:])}; they must be equal.")
        self.student, self.teacher, self.generator = student, teacher, generator
        self.teacher.trainable = False
        self.latent_dim = int(generator.input_shape[-1])
        self.generator_filters = generator_filters
        self.synthetic_batch_size = int(synthetic_batch_size)
        self.temperature = float(temperature)
        for arg, value in weights.items():
            setattr(self, arg, float(value))
        self.student_steps = int(student_steps)
        self.feature_layer = feature_layer
        self.teacher_outputs = teacher_outputs
        self._teacher_kind = output_kind(teacher) if teacher_outputs == "auto" else teacher_outputs
        self.objective = GeneratorObjective(teacher, feature_layer, batch_norm=self.bn_weight > 0,
                                            teacher_kind=self._teacher_kind)
        self._trackers = {n: keras.metrics.Mean(name=n)
                          for n in ("generator_loss", "distillation_loss") + GENERATOR_TERMS}

    @property
    def uses_bn_loss(self):
        """True when BatchNorm-statistics matching is active (``bn_weight > 0`` and the teacher has BN layers)."""
        return bool(self.objective.bn_layers)

    # ------------------------------------------------------------------ compile / config
    def compile(self, optimizer="adam", generator_optimizer=None, metrics=None, distillation_loss=None,
                lr_schedule="cosine", **kwargs):
        """Configure training.

        Args:
            optimizer: the student's optimizer. Defaults to "adam".
            generator_optimizer: the generator's optimizer; None is Adam(1e-3). Defaults to None.
            metrics: metrics of the student against labels, used by ``evaluate`` on real data.
            distillation_loss: a ``DistillationLoss``, a name or None for KL at this distiller's temperature.
            lr_schedule: ``"cosine"`` decays the student's learning rate per step over each ``fit``; None keeps it.
                Defaults to "cosine".
        """
        if lr_schedule not in ("cosine", None):
            raise ConfigError(f"lr_schedule must be 'cosine' or None, received {lr_schedule!r}.")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.generator_optimizer = keras.optimizers.get(generator_optimizer or keras.optimizers.Adam(1e-3))
        if self.generator_optimizer is self.optimizer:
            raise ConfigError("the generator and the student need two optimizer objects (each keeps its own slots).")
        self.distillation_loss_fn = kd_losses.get(distillation_loss or "kl", temperature=self.temperature)
        self.lr_schedule = lr_schedule

    def get_config(self):
        config = {k: getattr(self, k) for k in (
            "latent_dim", "generator_filters", "input_range", "synthetic_batch_size", "temperature", "one_hot_weight",
            "activation_weight", "entropy_weight", "bn_weight", "adversarial_weight", "student_steps",
            "feature_layer", "teacher_outputs")}
        for key in ("student", "teacher", "generator"):
            config[key] = keras.saving.serialize_keras_object(getattr(self, key))
        config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("student", "teacher", "generator"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)

    metrics = property(tracked_metrics)

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    # ------------------------------------------------------------------ losses
    def generator_terms(self, x):
        """The generator's loss terms on generated inputs ``x`` (see ``GeneratorObjective``) and teacher logits."""
        return self.objective(x)

    def _distill_loss(self, t_logits, x, training):
        s_logits = self.student(x, training=training)
        return tf.reduce_mean(self.distillation_loss_fn(tf.stop_gradient(t_logits), s_logits)), s_logits

    def sample(self, n=None, training=False):
        """``n`` generated inputs (default ``synthetic_batch_size``) as a tensor."""
        z = tf.random.normal([n or self.synthetic_batch_size, self.latent_dim])
        return self.generator(z, training=training)

    # ------------------------------------------------------------------ steps
    def train_step(self, data):
        del data  # a dummy batch only counts the steps: nothing is read
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            x = self.sample(training=True)
            terms, t_logits = self.generator_terms(x)
            adversarial = tf.constant(0.0)
            if self.adversarial_weight > 0:
                s_logits = self.student(x, training=False)
                adversarial = -tf.reduce_mean(tf.abs(t_logits - s_logits))
            terms["adversarial_loss"] = adversarial
            g_loss = (self.one_hot_weight * terms["one_hot_loss"] + self.activation_weight * terms["activation_loss"]
                      + self.entropy_weight * terms["entropy_loss"] + self.bn_weight * terms["bn_loss"]
                      + self.adversarial_weight * adversarial)
            scaled = (g_loss + tf.add_n(self.generator.losses) if self.generator.losses else g_loss) / replicas
        g_vars = self.generator.trainable_variables
        self.generator_optimizer.apply_gradients(zip(tape.gradient(scaled, g_vars), g_vars))

        x, t_logits = tf.stop_gradient(x), tf.stop_gradient(t_logits)
        s_vars = self.student.trainable_variables
        for i in range(self.student_steps):
            if i > 0:
                x = tf.stop_gradient(self.sample(training=True))
                t_logits = to_logits(self.teacher(x, training=False), self._teacher_kind)
            with tf.GradientTape() as tape:
                kd, _ = self._distill_loss(t_logits, x, training=True)
                total = kd + tf.add_n(self.student.losses) if self.student.losses else kd
                scaled = total / replicas
            self.optimizer.apply_gradients(zip(tape.gradient(scaled, s_vars), s_vars))

        self._trackers["generator_loss"].update_state(g_loss)
        self._trackers["distillation_loss"].update_state(kd)
        for key in GENERATOR_TERMS:
            self._trackers[key].update_state(terms[key])
        return {name: self._trackers[name].result() for name in self._trackers}

    def test_step(self, data):
        """On real data: the distillation loss and the compiled metrics of the student against the labels."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        t_logits = to_logits(self.teacher(x, training=False), self._teacher_kind)
        kd, s_logits = self._distill_loss(t_logits, x, training=False)
        self._trackers["distillation_loss"].update_state(kd)
        logs = {"distillation_loss": self._trackers["distillation_loss"].result()}
        if y is not None:
            self.compiled_metrics.update_state(y, s_logits, sample_weight)
            logs.update({m.name: m.result() for m in self.compiled_metrics.metrics})
        return logs

    # ------------------------------------------------------------------ fit without data
    def fit(self, x=None, y=None, epochs=1, steps_per_epoch=None, callbacks=None, **kwargs):
        """``keras.Model.fit`` without data: ``fit(epochs=E, steps_per_epoch=S)``.

        ``x`` may still be a dataset or array whose batches only count steps (their content is ignored).

        Raises:
            ConfigError: if neither ``x`` nor ``steps_per_epoch`` is given.
        """
        if x is None:
            if steps_per_epoch is None:
                raise ConfigError("DataFreeDistiller.fit needs steps_per_epoch when no x is given, e.g. "
                                  "fit(epochs=20, steps_per_epoch=50): there is no data set to end an epoch.")
            x = tf.data.Dataset.from_tensors(tf.zeros([1])).repeat()
        callbacks = list(callbacks or [])
        if getattr(self, "lr_schedule", None) == "cosine" and not any(isinstance(c, CosineDecay) for c in callbacks):
            callbacks.append(CosineDecay())
        return super().fit(x, y, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks, **kwargs)


@register_stage
class DataFreeDistill(Stage):
    """Distil the current student from the teacher without reading the training data (``DataFreeDistiller``).

    Recipe: ``- distill: {method: data_free, epochs: 20}``.  Only ``trainer.teacher`` is used for training; the
    validation split (``x_val``, ``y_val``) is read to report the accuracy before and after.

    Args:
        epochs: training epochs. Defaults to 20.
        steps_per_epoch: generator/student steps per epoch. Defaults to 50.
        batch_size: generated inputs per step (>= 2). Defaults to 128.
        learning_rate: the student's peak learning rate (cosine decay); None takes the trainer's. Defaults to 1e-2
            (digits validation: 95.6% vs 94.2% at 3e-3, ``benchmarks/results/data_free.grid.md``).
        generator_learning_rate: the generator's Adam learning rate. Defaults to 1e-3.
        input_range: ``[low, high]`` of the teacher's inputs, or None for standardised inputs. Defaults to (0, 1).
        temperature, latent_dim, one_hot_weight, activation_weight, entropy_weight, bn_weight, adversarial_weight,
        student_steps: as for ``DataFreeDistiller``.
    """

    name = "distill"
    needs_training_data = False
    needs_student = True
    teacher_internals = "BatchNorm statistics"
    method = "data_free"

    def __init__(self, epochs=20, steps_per_epoch=50, batch_size=128, learning_rate=1e-2,
                 generator_learning_rate=1e-3, input_range=(0.0, 1.0), temperature=defaults.TEMPERATURE,
                 latent_dim=64, one_hot_weight=1.0, activation_weight=0.1, entropy_weight=5.0, bn_weight=3.0,
                 adversarial_weight=0.0, student_steps=1):
        check_number(self, "epochs", epochs, 0, integer=True)
        check_number(self, "steps_per_epoch", steps_per_epoch, 1, integer=True)
        check_number(self, "batch_size", batch_size, 2, integer=True,
                     what="an integer >= 2 (generated inputs per step)")
        check_number(self, "learning_rate", learning_rate, 0, low_open=True, none="the trainer's")
        check_number(self, "generator_learning_rate", generator_learning_rate, 0, low_open=True)
        if input_range is not None and not (isinstance(input_range, (list, tuple)) and len(input_range) == 2
                                            and all(is_number(v) for v in input_range)
                                            and input_range[0] < input_range[1]):
            refuse_option(self, "input_range", "a pair [low, high] of numbers with low < high, or null for "
                          "standardised inputs", input_range)
        check_number(self, "temperature", temperature, 0, low_open=True)
        check_number(self, "latent_dim", latent_dim, 1, integer=True)
        for option, value in (("one_hot_weight", one_hot_weight), ("activation_weight", activation_weight),
                              ("entropy_weight", entropy_weight), ("bn_weight", bn_weight),
                              ("adversarial_weight", adversarial_weight)):
            check_number(self, option, value, 0)
        check_number(self, "student_steps", student_steps, 1, integer=True)
        self.epochs, self.steps_per_epoch, self.batch_size = epochs, steps_per_epoch, batch_size
        self.learning_rate, self.generator_learning_rate = learning_rate, generator_learning_rate
        self.input_range, self.temperature, self.latent_dim = input_range, temperature, latent_dim
        self.one_hot_weight, self.activation_weight = one_hot_weight, activation_weight
        self.entropy_weight, self.bn_weight = entropy_weight, bn_weight
        self.adversarial_weight, self.student_steps = adversarial_weight, student_steps

    def apply(self, model, trainer):
        teacher = trainer.teacher
        if teacher is None:
            raise ConfigError("the distill (data_free) stage needs a teacher; give `teacher:` in the recipe.")
        if model is teacher:
            raise ConfigError("the distill (data_free) stage needs a student: add `student:` to the recipe or a "
                              "`search` stage before it.")
        start = time.time()
        before = trainer.evaluate(model)
        dfd = DataFreeDistiller(
            model, teacher, latent_dim=self.latent_dim, input_range=self.input_range,
            synthetic_batch_size=self.batch_size, temperature=self.temperature, one_hot_weight=self.one_hot_weight,
            activation_weight=self.activation_weight, entropy_weight=self.entropy_weight, bn_weight=self.bn_weight,
            adversarial_weight=self.adversarial_weight, student_steps=self.student_steps)
        lr = self.learning_rate or getattr(trainer, "learning_rate", 1e-3)
        dfd.compile(optimizer=keras.optimizers.Adam(lr),
                    generator_optimizer=keras.optimizers.Adam(self.generator_learning_rate))
        logs = {}
        if self.epochs:
            guard = with_nan_guard([], getattr(trainer, "stage", "distill (data_free)"), lr,
                                   monitor=("generator_loss", "distillation_loss"))
            history = dfd.fit(epochs=self.epochs, steps_per_epoch=self.steps_per_epoch,
                              verbose=getattr(trainer, "verbose", 0), callbacks=guard)
            logs = {k: round(float(v[-1]), 5) for k, v in history.history.items()}
        self._report = {
            "epochs": self.epochs, "steps_per_epoch": self.steps_per_epoch,
            "synthetic_samples": self.epochs * self.steps_per_epoch * self.batch_size,
            "training_data_read": False, "bn_matching": dfd.uses_bn_loss, "final_losses": logs,
            "val_accuracy_teacher": trainer.evaluate(teacher), "val_accuracy_before": before,
            "val_accuracy_after": trainer.evaluate(model), "seconds": round(time.time() - start, 1)}
        return model


__all__ = ["DataFreeDistiller", "DataFreeDistill", "GENERATOR_TERMS"]
