"""The ``Distiller``: a ``keras.Model`` that trains a student to match a teacher.

It is a plain ``tf_keras`` model with its own ``train_step`` and
``test_step``, so ``fit``, callbacks and ``tf.distribute`` strategies work
unchanged; ``call`` returns the student's outputs, and the trained
``distiller.student`` is an ordinary Keras model that saves by itself.
"""

import numpy as np

from tfcompress._keras import keras, tf
from tfcompress.distill import defaults, losses as kd_losses
from tfcompress.distill.checks import check_inputs_and_labels, check_pair, output_kind, to_logits
from tfcompress.distill.schedule import CosineDecay
from tfcompress.errors import ConfigError

TEACHER_KEY = "__tfcompress_teacher_logits__"


def tracked_metrics(model):
    """A distiller's metrics: its loss trackers, then the compiled metrics of the student's predictions."""
    metrics = list(model._trackers.values())
    if model.compiled_metrics is not None:
        metrics += model.compiled_metrics.metrics
    return metrics


@keras.utils.register_keras_serializable(package="tfcompress")
class Distiller(keras.Model):
    """Knowledge distillation of ``teacher`` into ``student``.

    The loss is ``alpha * student_loss(y, student) + (1 - alpha) *
    distillation_loss(teacher, student)``, where the default distillation loss
    is the temperature-softened KL scaled by ``T**2`` (Hinton et al.).  The
    teacher always runs in inference mode (BatchNorm and Dropout frozen) and
    gets no gradients.

    Defaults (``tfcompress/distill/defaults.py``) were chosen by measurement
    (``benchmarks/distill.py``), together with a per-step cosine decay of the
    learning rate over the whole ``fit`` (``lr_schedule="cosine"`` in ``compile``).

    Example:
        >>> from tfcompress import Distiller, build_cnn, keras, load_digits_data
        >>> data = load_digits_data()
        >>> teacher = build_cnn((8, 8, 1), 10, filters=(16,))
        >>> student = build_cnn((8, 8, 1), 10, filters=(4,), dense_units=0)
        >>> d = Distiller(student=student, teacher=teacher)
        >>> d.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
        >>> _ = d.fit(data["x_train"][:64], data["y_train"][:64], epochs=1, verbose=0)

    Args:
        student: the ``tf_keras`` model to train.
        teacher: a trained ``tf_keras`` model with the same input and output shapes; it is frozen.
        temperature: softening temperature of the default loss. Defaults to ``defaults.TEMPERATURE``.
        alpha: weight of the hard-label loss; ``1 - alpha`` weighs the distillation loss. Defaults to
            ``defaults.ALPHA``.
        teacher_outputs: ``"logits"``, ``"probabilities"`` or ``"auto"`` (a final softmax means
            probabilities). Defaults to "auto".
        student_outputs: the same for the student. Defaults to "auto".
        cache_teacher: reuse the teacher's outputs across epochs. ``"auto"`` caches when ``fit`` is given
            arrays (fixed inputs, so the outputs cannot change); True insists (and raises for a dataset or
            generator, whose inputs may be augmented); False never caches. Defaults to "auto".
    """

    def __init__(self, student, teacher, temperature=defaults.TEMPERATURE, alpha=defaults.ALPHA, teacher_outputs="auto",
                 student_outputs="auto", cache_teacher="auto", name="distiller", **kwargs):
        super().__init__(name=name, **kwargs)
        check_pair(student, teacher)
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], received {alpha!r} (0 = distillation loss only).")
        if not temperature > 0:
            raise ConfigError(f"temperature must be > 0, received {temperature!r}.")
        for arg, value in (("teacher_outputs", teacher_outputs), ("student_outputs", student_outputs)):
            if value not in ("auto", "logits", "probabilities"):
                raise ConfigError(f"{arg} must be 'auto', 'logits' or 'probabilities', received {value!r}.")
        if cache_teacher not in ("auto", True, False):
            raise ConfigError(f"cache_teacher must be 'auto', True or False, received {cache_teacher!r}.")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.teacher_outputs = teacher_outputs
        self.student_outputs = student_outputs
        self.cache_teacher = cache_teacher
        self._teacher_kind = output_kind(teacher) if teacher_outputs == "auto" else teacher_outputs
        self._student_kind = output_kind(student) if student_outputs == "auto" else student_outputs
        self._trackers = {n: keras.metrics.Mean(name=n) for n in self._loss_names()}

    def _loss_names(self):
        return ("loss", "student_loss", "distillation_loss")

    # ------------------------------------------------------------------ compile / config
    def compile(self, optimizer=None, metrics=None, student_loss=None, distillation_loss=None,
                lr_schedule="cosine", **kwargs):
        """Configure training.

        Args:
            optimizer: a Keras optimizer or name. Defaults to Adam at ``defaults.LEARNING_RATE`` (1e-2).
            metrics: metrics of the student's predictions against the labels, e.g. ``["accuracy"]``.
            student_loss: hard-label loss; None picks sparse or categorical cross-entropy from the labels.
            distillation_loss: a ``DistillationLoss``, a name (``"kl"``, ``"standardized_kl"``, ``"dkd"``) or None
                for KL at this distiller's temperature.
            lr_schedule: ``"cosine"`` decays the optimizer's learning rate per step over each ``fit`` (skipped if
                the optimizer already has a schedule); None keeps it constant. Defaults to "cosine".
        """
        if lr_schedule not in ("cosine", None):
            raise ConfigError(f"lr_schedule must be 'cosine' or None, received {lr_schedule!r}.")
        if optimizer is None:
            optimizer = keras.optimizers.Adam(defaults.LEARNING_RATE)
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.student_loss_fn = student_loss
        self.distillation_loss_fn = kd_losses.get(distillation_loss or defaults.LOSS, temperature=self.temperature) \
            if not isinstance(distillation_loss, kd_losses.DistillationLoss) else distillation_loss
        self.lr_schedule = lr_schedule

    def get_config(self):
        return {
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "teacher_outputs": self.teacher_outputs,
            "student_outputs": self.student_outputs,
            "cache_teacher": self.cache_teacher,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)

    # ------------------------------------------------------------------ forward and losses
    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    metrics = property(tracked_metrics)

    def _teacher_logits(self, x, y):
        if isinstance(y, dict) and TEACHER_KEY in y:
            return y["labels"], y[TEACHER_KEY]
        return y, to_logits(self.teacher(x, training=False), self._teacher_kind)

    def _hard_loss(self, y, student_out):
        if self.student_loss_fn is not None:
            fn = keras.losses.get(self.student_loss_fn) if isinstance(self.student_loss_fn, str) \
                else self.student_loss_fn
            return fn(y, student_out)
        from_logits = self._student_kind == "logits"
        if y.shape.rank is not None and y.shape.rank >= 2 and y.shape[-1] not in (None, 1):
            return keras.losses.categorical_crossentropy(y, student_out, from_logits=from_logits)
        return keras.losses.sparse_categorical_crossentropy(y, student_out, from_logits=from_logits)

    def _weighted_mean(self, per_sample, sample_weight):
        per_sample = tf.reshape(tf.cast(per_sample, tf.float32), [-1])
        if sample_weight is None:
            return tf.reduce_mean(per_sample)
        w = tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
        return tf.reduce_sum(per_sample * w) / tf.maximum(tf.reduce_sum(w), 1e-12)

    def compute_losses(self, x, y, sample_weight, training):
        if self.alpha >= 1.0:  # labels alone: the teacher is not run
            y = y["labels"] if isinstance(y, dict) and TEACHER_KEY in y else y
            s_out = self.student(x, training=training)
            hard = self._weighted_mean(self._hard_loss(y, s_out), sample_weight)
            return y, s_out, {"loss": hard, "student_loss": hard, "distillation_loss": tf.zeros_like(hard)}
        y, t_logits = self._teacher_logits(x, y)
        s_out = self.student(x, training=training)
        s_logits = to_logits(s_out, self._student_kind)
        t_logits = tf.stop_gradient(tf.cast(t_logits, s_logits.dtype))
        hard = self._weighted_mean(self._hard_loss(y, s_out), sample_weight)
        soft = self._weighted_mean(self.distillation_loss_fn(t_logits, s_logits, y), sample_weight)
        total = self.alpha * hard + (1.0 - self.alpha) * soft
        return y, s_out, {"loss": total, "student_loss": hard, "distillation_loss": soft}

    def _update_metrics(self, y, s_out, sample_weight, named):
        for key, value in named.items():
            self._trackers[key].update_state(value)
        self.compiled_metrics.update_state(y, s_out, sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y, s_out, named = self.compute_losses(x, y, sample_weight, training=True)
            total = named["loss"] + tf.add_n(self.student.losses) if self.student.losses else named["loss"]
            # Gradients are summed across replicas, so each replica contributes its share.
            scaled = total / tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.trainable_student_variables()
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return self._update_metrics(y, s_out, sample_weight, named)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y, s_out, named = self.compute_losses(x, y, sample_weight, training=False)
        return self._update_metrics(y, s_out, sample_weight, named)

    def trainable_student_variables(self):
        """Variables updated by training: the student's (subclasses add their adapters)."""
        return self.student.trainable_variables

    # ------------------------------------------------------------------ fit with checks and caching
    def fit(self, x=None, y=None, batch_size=None, epochs=1, callbacks=None, validation_data=None, **kwargs):
        """``keras.Model.fit`` plus checks before the first step, teacher caching and the default schedule."""
        check_inputs_and_labels(x, y, self.student)
        arrays = _is_array(x) and (y is None or _is_array(y))
        if self.cache_teacher is True and not arrays:
            raise ConfigError(
                "cache_teacher=True needs fixed arrays for x and y: a dataset or generator may change its inputs "
                "(augmentation) every epoch, and stale teacher outputs would teach the wrong targets. "
                "Pass arrays, or use cache_teacher='auto'/False.")
        if self.cache_teacher in ("auto", True) and arrays and y is not None:
            y = self.cached_targets(x, y, batch_size)
            if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2 \
                    and all(_is_array(a) for a in validation_data):
                vx, vy = validation_data
                check_inputs_and_labels(vx, vy, self.student)
                validation_data = (vx, self.cached_targets(vx, vy, batch_size))
        callbacks = list(callbacks or [])
        if getattr(self, "lr_schedule", None) == "cosine" and not any(isinstance(c, CosineDecay) for c in callbacks):
            callbacks.append(CosineDecay())
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, callbacks=callbacks,
                           validation_data=validation_data, **kwargs)

    #: a ``tfcompress.distill.cache.TeacherCache`` shared by the fits of a run (set by ``Trainer``), or None
    teacher_cache = None

    def cached_targets(self, x, y, batch_size=None):
        """Labels packed with the teacher's logits, computed once (one inference pass, or none when the run's
        ``teacher_cache`` already holds them)."""
        if self.teacher_cache is not None:
            outputs = self.teacher_cache.outputs(self.teacher, x, batch_size=batch_size or 256)
        else:
            outputs = self.teacher.predict(x, batch_size=batch_size or 256, verbose=0)
        logits = np.log(np.clip(outputs, 1e-30, 1.0)) if self._teacher_kind == "probabilities" else outputs
        return {"labels": np.asarray(y), TEACHER_KEY: logits.astype("float32")}


def _is_array(a):
    return isinstance(a, (np.ndarray, tf.Tensor)) or (hasattr(a, "shape") and hasattr(a, "dtype")
                                                      and not isinstance(a, tf.data.Dataset))
