"""The ``Distiller``: a ``keras.Model`` that trains a student to match a teacher.

It is a plain ``tf_keras`` model with its own ``train_step`` and ``test_step``, so ``fit``, callbacks and
``tf.distribute`` strategies work unchanged; ``call`` returns the student's outputs, and the trained
``distiller.student`` is an ordinary Keras model that saves by itself. Its arguments are those of Keras 3's
``keras.distillation.Distiller`` (``distillation_losses``, ``distillation_loss_weights``,
``student_loss_weight``), for tf_keras models; ``temperature`` and ``alpha`` remain as the short form.
"""

import numpy as np

from tfcompress._keras import keras, tf
from tfcompress.distill import defaults, losses as kd_losses
from tfcompress.distill.checks import check_inputs_and_labels, check_pair, output_kind, to_logits
from tfcompress.distill.hints import hint_loss, layer_output, make_adapter
from tfcompress.distill.schedule import CosineDecay
from tfcompress.distill.specs import FeatureDistillation, LogitsDistillation, as_specs
from tfcompress.errors import ConfigError

TEACHER_KEY = "__tfcompress_teacher_logits__"
LR_SCHEDULES = ("auto", "cosine", None)


def tracked_metrics(model):
    """A distiller's metrics: its loss trackers, then the compiled metrics of the student's predictions."""
    metrics = list(model._trackers.values())
    if model.compiled_metrics is not None:
        metrics += model.compiled_metrics.metrics
    return metrics


def _hard_weight(student_loss_weight, alpha, specs):
    """``student_loss_weight`` (Keras 3's name) and ``alpha`` (the short form) are one number; check it.

    Unset, it is ``defaults.ALPHA``, or ``defaults.ALPHA_DKD`` (labels and DKD weighed equally, as in the DKD
    paper's recipe) when a ``LogitsDistillation`` uses DKD.
    """
    if student_loss_weight is not None and alpha is not None and float(student_loss_weight) != float(alpha):
        raise ConfigError(f"student_loss_weight ({student_loss_weight!r}) and alpha ({alpha!r}) are two names of the "
                          "weight of the hard-label loss; give one of them.")
    value = student_loss_weight if student_loss_weight is not None else alpha
    if value is None:
        dkd = any(isinstance(getattr(s, "fn", None), kd_losses.DecoupledKD) for s in specs)
        value = defaults.ALPHA_DKD if dkd else defaults.ALPHA
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"alpha (student_loss_weight) must be in [0, 1], received {value!r} (0 = distillation "
                          "loss only, 1 = labels only).")
    return float(value)


@keras.utils.register_keras_serializable(package="tfcompress")
class Distiller(keras.Model):
    """Knowledge distillation of ``teacher`` into ``student``.

    The loss is ``student_loss_weight * student_loss(y, student) + (1 - student_loss_weight) * sum_i w_i *
    distillation_loss_i``, as in Keras 3's ``keras.distillation.Distiller``. The default distillation loss is
    ``LogitsDistillation(temperature)``: the temperature-softened KL scaled by ``T**2`` (Hinton et al.). The
    teacher always runs in inference mode (BatchNorm and Dropout frozen) and gets no gradients.

    Defaults (``tfcompress/distill/defaults.py``) were chosen by measurement (``benchmarks/distill.py``).

    Example:
        >>> from tfcompress import Distiller, build_cnn, keras, load_digits_data
        >>> from tfcompress.distill import LogitsDistillation
        >>> data = load_digits_data()
        >>> teacher = build_cnn((8, 8, 1), 10, filters=(16,))
        >>> student = build_cnn((8, 8, 1), 10, filters=(4,), dense_units=0)
        >>> d = Distiller(teacher=teacher, student=student, distillation_losses=[LogitsDistillation(temperature=2)],
        ...               student_loss_weight=0.1)
        >>> d.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
        >>> _ = d.fit(data["x_train"][:64], data["y_train"][:64], epochs=1, verbose=0)

    Args:
        student: the ``tf_keras`` model to train (by name: ``student=``).
        teacher: a trained ``tf_keras`` model with the same input and output shapes; it is frozen (``teacher=``).
        distillation_losses: a ``LogitsDistillation`` / ``FeatureDistillation`` or a list of them; None for
            ``LogitsDistillation(temperature)``. Defaults to None.
        distillation_loss_weights: one weight per distillation loss. Defaults to 1.0 each.
        student_loss_weight: weight of the hard-label loss, in [0, 1] (Keras 3's name for ``alpha``).
            Defaults to ``defaults.ALPHA`` (0.1).
        temperature: the short form: ``LogitsDistillation(temperature)`` when ``distillation_losses`` is not
            given. Defaults to ``defaults.TEMPERATURE`` (2.0).
        alpha: the short form of ``student_loss_weight``. Defaults to None.
        teacher_outputs: ``"logits"``, ``"probabilities"`` or ``"auto"`` (a final softmax means
            probabilities). Defaults to "auto".
        student_outputs: the same for the student. Defaults to "auto".
        cache_teacher: reuse the teacher's outputs across epochs. ``"auto"`` caches when ``fit`` is given
            arrays (fixed inputs, so the outputs cannot change) and no ``FeatureDistillation`` needs the
            teacher's inner layers; True insists (and raises otherwise); False never caches. Defaults to "auto".

    Raises:
        ConfigError: positional models, inconsistent or out-of-range weights, unknown loss names.
        ShapeError: teacher and student that do not read the same inputs or predict the same classes.
    """

    def __init__(self, *args, student=None, teacher=None, distillation_losses=None, distillation_loss_weights=None,
                 student_loss_weight=None, temperature=None, alpha=None, teacher_outputs="auto",
                 student_outputs="auto", cache_teacher="auto", name="distiller", **kwargs):
        if args:
            raise ConfigError("pass the models by name: Distiller(teacher=..., student=...). Keras 3's Distiller "
                              "takes (teacher, student) in that order and tfcompress's took (student, teacher), so "
                              "positional models are refused rather than guessed.")
        super().__init__(name=name, **kwargs)
        check_pair(student, teacher)
        if distillation_losses is not None and temperature is not None:
            raise ConfigError("give the temperature to LogitsDistillation(temperature=...) when distillation_losses "
                              "is given; temperature= is the short form for the default loss.")
        if temperature is not None and not temperature > 0:
            raise ConfigError(f"temperature must be > 0, received {temperature!r}.")
        for arg, value in (("teacher_outputs", teacher_outputs), ("student_outputs", student_outputs)):
            if value not in ("auto", "logits", "probabilities"):
                raise ConfigError(f"{arg} must be 'auto', 'logits' or 'probabilities', received {value!r}.")
        if cache_teacher not in ("auto", True, False):
            raise ConfigError(f"cache_teacher must be 'auto', True or False, received {cache_teacher!r}.")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.distillation_losses = as_specs(distillation_losses, defaults.TEMPERATURE if temperature is None
                                            else float(temperature))
        self.alpha = _hard_weight(student_loss_weight, alpha, self.distillation_losses)
        self.distillation_loss_weights = self._weights(distillation_loss_weights)
        features = [s for s in self.distillation_losses if isinstance(s, FeatureDistillation)]
        if features and cache_teacher is True:
            raise ConfigError("cache_teacher=True cannot be met with a FeatureDistillation: the teacher's inner "
                              "layers are needed at every step. Use cache_teacher='auto' or False.")
        self.teacher_outputs = teacher_outputs
        self.student_outputs = student_outputs
        self.cache_teacher = cache_teacher
        self._teacher_kind = output_kind(teacher) if teacher_outputs == "auto" else teacher_outputs
        self._student_kind = output_kind(student) if student_outputs == "auto" else student_outputs
        self._build_taps(features)
        self._warmups = [tf.Variable(1.0, trainable=False, dtype=tf.float32, name=f"warmup_{i}")
                         for i, _ in enumerate(self.distillation_losses)]
        self._trackers = {n: keras.metrics.Mean(name=n) for n in self._loss_names()}

    # ------------------------------------------------------------------ construction helpers
    def _weights(self, weights):
        n = len(self.distillation_losses)
        weights = [1.0] * n if weights is None else list(weights)
        if len(weights) != n or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                                        for w in weights):
            raise ConfigError(f"distillation_loss_weights must be {n} number(s) >= 0, one per distillation loss; "
                              f"received {weights!r}.")
        return [float(w) for w in weights]

    def _build_taps(self, features):
        """Sub-models giving the final output and the layers the ``FeatureDistillation`` losses compare."""
        self._features = features
        self.adapters = []
        if not features:
            self._student_taps = self._teacher_taps = None
            return
        s_feats = [layer_output(self.student, f.student_layer_name, "student") for f in features]
        t_feats = [layer_output(self.teacher, f.teacher_layer_name, "teacher") for f in features]
        self._student_taps = keras.Model(self.student.inputs, [self.student.outputs[0]] + s_feats)
        self._teacher_taps = keras.Model(self.teacher.inputs, [self.teacher.outputs[0]] + t_feats)
        self.adapters = [None if tuple(s.shape) == tuple(t.shape) else make_adapter(tuple(s.shape), tuple(t.shape), i)
                         for i, (s, t) in enumerate(zip(s_feats, t_feats))]

    def _loss_names(self):
        names = ("loss", "student_loss", "distillation_loss")
        return names + ("feature_loss",) if self._features else names

    @property
    def temperature(self):
        """The temperature of the first ``LogitsDistillation`` (None without one)."""
        logits = [s for s in self.distillation_losses if isinstance(s, LogitsDistillation)]
        return logits[0].temperature if logits else None

    @property
    def student_loss_weight(self):
        return self.alpha

    @property
    def distillation_loss_fn(self):
        """The loss function of the first ``LogitsDistillation`` (None without one)."""
        logits = [s for s in self.distillation_losses if isinstance(s, LogitsDistillation)]
        return logits[0].fn if logits else None

    # ------------------------------------------------------------------ compile / config
    def compile(self, optimizer=None, metrics=None, student_loss=None, distillation_loss=None, lr_schedule="auto",
                loss=None, **kwargs):
        """Configure training.

        Args:
            optimizer: a Keras optimizer or name, used as given (its learning rate is not changed unless
                ``lr_schedule="cosine"``). None for Adam at ``defaults.LEARNING_RATE`` (1e-2) with a per-step
                cosine decay, the measured default for small students.
            metrics: metrics of the student's predictions against the labels, e.g. ``["accuracy"]``.
            student_loss: hard-label loss; None picks sparse or categorical cross-entropy from the labels.
            distillation_loss: replaces the loss of every ``LogitsDistillation``: a name (``"kl"``,
                ``"standardized_kl"``, ``"dkd"``, at this distiller's temperature) or a ``DistillationLoss``;
                None keeps them. Defaults to None.
            lr_schedule: ``"auto"`` (cosine decay only when no optimizer is given), ``"cosine"`` (decay the
                optimizer's learning rate per step over each ``fit``; skipped if it already has a schedule) or
                None (constant). Defaults to "auto".
            loss: Keras 3's name of ``student_loss``. Defaults to None.
        """
        if lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be 'auto', 'cosine' or None, received {lr_schedule!r}.")
        if loss is not None and student_loss is not None:
            raise ConfigError("loss and student_loss name the same hard-label loss; give one of them.")
        if lr_schedule == "auto":
            lr_schedule = "cosine" if optimizer is None else None
        if optimizer is None:
            optimizer = keras.optimizers.Adam(defaults.LEARNING_RATE)
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.student_loss_fn = student_loss if student_loss is not None else loss
        if distillation_loss is not None:
            self.distillation_losses = [
                LogitsDistillation(temperature=s.temperature, loss=distillation_loss, warmup_epochs=None)
                if isinstance(s, LogitsDistillation) else s for s in self.distillation_losses]
        self.lr_schedule = lr_schedule

    def get_config(self):
        return {
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "distillation_losses": [keras.saving.serialize_keras_object(s) for s in self.distillation_losses],
            "distillation_loss_weights": list(self.distillation_loss_weights),
            "student_loss_weight": self.alpha,
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
            named = {"loss": hard, "student_loss": hard, "distillation_loss": tf.zeros_like(hard)}
            if self._features:
                named["feature_loss"] = tf.zeros_like(hard)
            return y, s_out, named
        if self._features:
            s_out, *s_feats = self._student_taps(x, training=training)
            t_out, *t_feats = self._teacher_taps(x, training=False)
            t_logits = to_logits(t_out, self._teacher_kind)
        else:
            y, t_logits = self._teacher_logits(x, y)
            s_out, s_feats, t_feats = self.student(x, training=training), [], []
        s_logits = to_logits(s_out, self._student_kind)
        t_logits = tf.stop_gradient(tf.cast(t_logits, s_logits.dtype))
        hard = self._weighted_mean(self._hard_loss(y, s_out), sample_weight)
        terms, feature_terms, f = [], [], 0
        for spec, weight, warm in zip(self.distillation_losses, self.distillation_loss_weights, self._warmups):
            if isinstance(spec, FeatureDistillation):
                per_sample = hint_loss(self.adapters[f], s_feats[f], t_feats[f], spec.loss)
                f += 1
            else:
                per_sample = spec(t_logits, s_logits, y)
            term = weight * warm * self._weighted_mean(per_sample, sample_weight)
            terms.append(term)
            if isinstance(spec, FeatureDistillation):
                feature_terms.append(term)
        soft = tf.add_n(terms)
        total = self.alpha * hard + (1.0 - self.alpha) * soft
        named = {"loss": total, "student_loss": hard, "distillation_loss": soft}
        if self._features:
            named["feature_loss"] = (1.0 - self.alpha) * tf.add_n(feature_terms)
        return y, s_out, named

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
            loss_scaled = isinstance(self.optimizer, keras.mixed_precision.LossScaleOptimizer)  # mixed_float16
            if loss_scaled:
                scaled = self.optimizer.get_scaled_loss(scaled)
        variables = self.trainable_student_variables()
        grads = tape.gradient(scaled, variables)
        if loss_scaled:
            grads = self.optimizer.get_unscaled_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, variables))
        return self._update_metrics(y, s_out, sample_weight, named)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y, s_out, named = self.compute_losses(x, y, sample_weight, training=False)
        return self._update_metrics(y, s_out, sample_weight, named)

    def trainable_student_variables(self):
        """Variables updated by training: the student's and the feature adapters'."""
        adapters = [v for a in self.adapters if a is not None for v in a.trainable_variables]
        return self.student.trainable_variables + adapters

    # ------------------------------------------------------------------ fit with checks and caching
    def fit(self, x=None, y=None, batch_size=None, epochs=1, callbacks=None, validation_data=None, **kwargs):
        """``keras.Model.fit`` plus checks before the first step, teacher caching, warm-ups and the schedule."""
        check_inputs_and_labels(x, y, self.student)
        arrays = _is_array(x) and (y is None or _is_array(y))
        if self.cache_teacher is True and not arrays:
            raise ConfigError(
                "cache_teacher=True needs fixed arrays for x and y: a dataset or generator may change its inputs "
                "(augmentation) every epoch, and stale teacher outputs would teach the wrong targets. "
                "Pass arrays, or use cache_teacher='auto'/False.")
        if self.cache_teacher in ("auto", True) and arrays and y is not None and not self._features:
            y = self.cached_targets(x, y, batch_size)
            if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2 \
                    and all(_is_array(a) for a in validation_data):
                vx, vy = validation_data
                check_inputs_and_labels(vx, vy, self.student)
                validation_data = (vx, self.cached_targets(vx, vy, batch_size))
        callbacks = list(callbacks or [])
        if getattr(self, "lr_schedule", None) == "cosine" and not any(isinstance(c, CosineDecay) for c in callbacks):
            callbacks.append(CosineDecay())
        if any(s.warmup_epochs for s in self.distillation_losses):
            callbacks.append(_WarmUp(self))
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


class _WarmUp(keras.callbacks.Callback):
    """Each epoch, set every warmed-up loss's factor to ``min(1, (epoch + 1) / warmup_epochs)``."""

    def __init__(self, distiller):
        super().__init__()
        self.distiller = distiller

    def on_epoch_begin(self, epoch, logs=None):
        for spec, factor in zip(self.distiller.distillation_losses, self.distiller._warmups):
            factor.assign(min(1.0, (epoch + 1) / spec.warmup_epochs) if spec.warmup_epochs else 1.0)

    def on_train_end(self, logs=None):
        for factor in self.distiller._warmups:
            factor.assign(1.0)


def _is_array(a):
    return isinstance(a, (np.ndarray, tf.Tensor)) or (hasattr(a, "shape") and hasattr(a, "dtype")
                                                      and not isinstance(a, tf.data.Dataset))
