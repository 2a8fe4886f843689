"""Logit distillation losses.

Each loss is a small serialisable object.  It is called as
``loss(teacher_logits, student_logits, y_true=None)`` and returns one value
per sample (shape ``[batch]``), so that the caller can apply sample weights
and reduce across replicas.  All losses take *logits*; the ``Distiller``
turns probabilities into log-probabilities first, which gives the same
softened distributions.

References:
  * Hinton et al. 2015, "Distilling the Knowledge in a Neural Network".
  * Zhao et al. 2022, "Decoupled Knowledge Distillation" (DKD, CVPR'22).
  * Sun et al. 2024, "Logit Standardization in Knowledge Distillation" (CVPR'24).
"""

from tfcompress._keras import keras, tf
from tfcompress.errors import ConfigError

_PACKAGE = "tfcompress"


def _check_temperature(temperature):
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, received {temperature!r}. Typical values are 1 to 8.")
    return float(temperature)


class DistillationLoss:
    """Base class: per-sample loss between teacher and student logits."""

    needs_labels = False

    def __call__(self, teacher_logits, student_logits, y_true=None):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _kl(teacher_logits, student_logits, temperature):
    """Per-sample KL(softmax(t/T) || softmax(s/T)) scaled by T**2."""
    t_log = tf.nn.log_softmax(teacher_logits / temperature, axis=-1)
    s_log = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    return tf.reduce_sum(tf.exp(t_log) * (t_log - s_log), axis=-1) * temperature**2


@keras.utils.register_keras_serializable(package=_PACKAGE)
class KLDivergence(DistillationLoss):
    """Hinton's logit distillation: temperature-softened KL scaled by T**2.

    Args:
        temperature: softening temperature, > 0. Defaults to 4.0.
    """

    def __init__(self, temperature=4.0):
        self.temperature = _check_temperature(temperature)

    def __call__(self, teacher_logits, student_logits, y_true=None):
        return _kl(teacher_logits, student_logits, self.temperature)

    def get_config(self):
        return {"temperature": self.temperature}


@keras.utils.register_keras_serializable(package=_PACKAGE)
class StandardizedKL(DistillationLoss):
    """KL on z-scored logits (logit standardisation, CVPR'24).

    Teacher and student logits are each standardised per sample (zero mean,
    unit variance) before the temperature-softened KL, so that the student
    matches the teacher's *relations* between classes rather than its logit
    scale, which a small student cannot always reach.

    Args:
        temperature: softening temperature, > 0. Defaults to 2.0.
    """

    def __init__(self, temperature=2.0):
        self.temperature = _check_temperature(temperature)

    @staticmethod
    def _zscore(z):
        mean, var = tf.nn.moments(z, axes=[-1], keepdims=True)
        return (z - mean) / tf.sqrt(var + 1e-7)

    def __call__(self, teacher_logits, student_logits, y_true=None):
        return _kl(self._zscore(teacher_logits), self._zscore(student_logits), self.temperature)

    def get_config(self):
        return {"temperature": self.temperature}


@keras.utils.register_keras_serializable(package=_PACKAGE)
class DecoupledKD(DistillationLoss):
    """Decoupled knowledge distillation (DKD, CVPR'22).

    Splits the KD loss into a target-class part (TCKD: binary target vs rest)
    and a non-target part (NCKD: distribution among the other classes) and
    weights them separately: ``alpha * TCKD + beta * NCKD``.

    Args:
        alpha: weight of TCKD. Defaults to 1.0.
        beta: weight of NCKD. Defaults to 8.0.
        temperature: softening temperature, > 0. Defaults to 4.0.
    """

    needs_labels = True

    def __init__(self, alpha=1.0, beta=8.0, temperature=4.0):
        if alpha < 0 or beta < 0:
            raise ConfigError(f"DKD weights must be >= 0, received alpha={alpha!r}, beta={beta!r}.")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.temperature = _check_temperature(temperature)

    def __call__(self, teacher_logits, student_logits, y_true=None):
        if y_true is None:
            raise ConfigError("DecoupledKD needs the labels; call it with y_true.")
        t = self.temperature
        num_classes = tf.shape(student_logits)[-1]
        mask = tf.one_hot(labels_to_sparse(y_true), num_classes, dtype=student_logits.dtype)
        p_t = tf.nn.softmax(teacher_logits / t)
        p_s = tf.nn.softmax(student_logits / t)
        eps = 1e-8
        # TCKD: KL between the binary (target, non-target) distributions.
        bt = tf.stack([tf.reduce_sum(p_t * mask, -1), tf.reduce_sum(p_t * (1 - mask), -1)], -1)
        bs = tf.stack([tf.reduce_sum(p_s * mask, -1), tf.reduce_sum(p_s * (1 - mask), -1)], -1)
        tckd = tf.reduce_sum(bt * (tf.math.log(bt + eps) - tf.math.log(bs + eps)), -1)
        # NCKD: KL among the non-target classes, the target masked out of the softmax.
        big = 1000.0
        nt_t = tf.nn.log_softmax(teacher_logits / t - big * mask, axis=-1)
        nt_s = tf.nn.log_softmax(student_logits / t - big * mask, axis=-1)
        nckd = tf.reduce_sum(tf.exp(nt_t) * (nt_t - nt_s) * (1 - mask), -1)
        return (self.alpha * tckd + self.beta * nckd) * t**2

    def get_config(self):
        return {"alpha": self.alpha, "beta": self.beta, "temperature": self.temperature}


def labels_to_sparse(y_true):
    """Integer class ids from sparse (``[n]``/``[n, 1]``) or one-hot (``[n, C]``) labels."""
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank is not None and y_true.shape.rank >= 2 and y_true.shape[-1] not in (None, 1):
        return tf.argmax(y_true, axis=-1, output_type=tf.int32)
    return tf.cast(tf.reshape(y_true, [-1]), tf.int32)


_LOSSES = {"kl": KLDivergence, "standardized_kl": StandardizedKL, "dkd": DecoupledKD}


def get(identifier, temperature=None):
    """Resolve a loss from a name (``"kl"``, ``"standardized_kl"``, ``"dkd"``), config or object."""
    if isinstance(identifier, DistillationLoss):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str) and identifier in _LOSSES:
        cls = _LOSSES[identifier]
        return cls() if temperature is None else cls(temperature=temperature)
    raise ConfigError(
        f"Unknown distillation loss {identifier!r}. Use one of {sorted(_LOSSES)} or a DistillationLoss object."
    )


def serialize(loss):
    return keras.saving.serialize_keras_object(loss)
