"""The distillation losses of a ``Distiller``, in the shape of Keras 3's ``keras.distillation``.

``LogitsDistillation(temperature=..., loss=...)`` compares the teacher's and the student's final outputs with
one of the logit losses of ``tfcompress.distill.losses`` (Hinton's KL, logit-standardised KL, DKD);
``FeatureDistillation(teacher_layer_name=..., student_layer_name=...)`` compares two intermediate layers (or,
without names, the final outputs) with MSE, through a learned adapter when their widths differ (FitNets). A
``Distiller`` takes a list of them with ``distillation_loss_weights`` and a ``student_loss_weight``, as Keras 3
does, for tf_keras models. Each is a small object with ``get_config``/``from_config``.

A loss can be warmed up: its weight grows linearly over its first ``warmup_epochs`` epochs (DKD's recipe,
Zhao et al. CVPR'22, which warms DKD up over 20 of 240 CIFAR epochs: its raw value is tens of times that of
the label loss at the start).
"""

from tfcompress._keras import keras
from tfcompress.distill import defaults, losses as kd_losses
from tfcompress.errors import ConfigError

#: Keras 3's name of the KL loss, accepted as an alias of "kl".
_ALIASES = {"kl_divergence": "kl"}
#: Epochs over which a DKD term is warmed up when ``warmup_epochs`` is not given.
DKD_WARMUP_EPOCHS = 5
FEATURE_LOSSES = ("mse", "mae")


class DistillationSpec:
    """Base class of the distillation losses a ``Distiller`` takes (``distillation_losses=``)."""

    warmup_epochs = 0

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.utils.register_keras_serializable(package="tfcompress")
class LogitsDistillation(DistillationSpec):
    """Distil the teacher's final outputs (logits, or probabilities turned into log-probabilities).

    Args:
        temperature: softening temperature, > 0. Defaults to ``defaults.TEMPERATURE`` (2.0).
        loss: ``"kl"`` (Hinton; ``"kl_divergence"`` as in Keras 3), ``"standardized_kl"`` (logit
            standardisation, CVPR'24) or ``"dkd"`` (decoupled KD, CVPR'22), or a
            ``tfcompress.distill.losses.DistillationLoss`` object. Defaults to "kl".
        warmup_epochs: epochs over which the loss's weight grows linearly from a fraction to its full value;
            None for ``DKD_WARMUP_EPOCHS`` with DKD and 0 otherwise. Defaults to None.

    Raises:
        ConfigError: an unknown loss name or a temperature <= 0.
    """

    def __init__(self, temperature=defaults.TEMPERATURE, loss=defaults.LOSS, warmup_epochs=None):
        if isinstance(loss, str):
            name = _ALIASES.get(loss, loss)
            self.fn = kd_losses.get(name, temperature=temperature)
        elif isinstance(loss, kd_losses.DistillationLoss):
            name, self.fn = None, loss
        elif isinstance(loss, dict):
            name, self.fn = None, kd_losses.get(loss)
        else:
            raise ConfigError(f"LogitsDistillation: loss must be one of {sorted(kd_losses._LOSSES)} or a "
                              f"DistillationLoss, received {loss!r}.")
        if warmup_epochs is None:
            warmup_epochs = DKD_WARMUP_EPOCHS if isinstance(self.fn, kd_losses.DecoupledKD) else 0
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ConfigError(f"LogitsDistillation: warmup_epochs must be an integer >= 0, received "
                              f"{warmup_epochs!r}.")
        self.temperature = float(getattr(self.fn, "temperature", temperature))
        self.loss = name if name is not None else kd_losses.serialize(self.fn)
        self.warmup_epochs = warmup_epochs

    def __call__(self, teacher_logits, student_logits, y_true=None):
        """Per-sample loss (shape ``[batch]``)."""
        return self.fn(teacher_logits, student_logits, y_true)

    def get_config(self):
        return {"temperature": self.temperature, "loss": self.loss, "warmup_epochs": self.warmup_epochs}


@keras.utils.register_keras_serializable(package="tfcompress")
class FeatureDistillation(DistillationSpec):
    """Distil an intermediate layer of the teacher into one of the student (a FitNets hint).

    The student layer's output goes through a learned adapter (a 1x1 convolution for feature maps, a dense
    layer for vectors) to the teacher layer's width, and is resized to its spatial size; the adapter trains
    with the student but is not part of ``distiller.student``. Without layer names, the final outputs are
    compared (as in Keras 3).

    Args:
        loss: ``"mse"`` or ``"mae"``. Defaults to "mse".
        teacher_layer_name: name of a layer of the teacher. Defaults to None (the final output).
        student_layer_name: name of a layer of the student. Defaults to None (the final output).
    """

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        if loss not in FEATURE_LOSSES:
            raise ConfigError(f"FeatureDistillation: loss must be one of {', '.join(FEATURE_LOSSES)}, received "
                              f"{loss!r}.")
        if (teacher_layer_name is None) != (student_layer_name is None):
            raise ConfigError("FeatureDistillation: give both teacher_layer_name and student_layer_name, or "
                              f"neither (final outputs); received {teacher_layer_name!r} and {student_layer_name!r}.")
        self.loss = loss
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name

    def get_config(self):
        return {"loss": self.loss, "teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}


def as_specs(distillation_losses, temperature, loss=None):
    """A list of ``DistillationSpec`` from the ``Distiller`` arguments (a spec, a list of specs, their configs,
    or None for one ``LogitsDistillation(temperature)``)."""
    if distillation_losses is None:
        return [LogitsDistillation(temperature=temperature, loss=loss or defaults.LOSS)]
    items = distillation_losses if isinstance(distillation_losses, (list, tuple)) else [distillation_losses]
    out = []
    for item in items:
        if isinstance(item, dict):
            item = keras.saving.deserialize_keras_object(item)
        if not isinstance(item, DistillationSpec):
            raise ConfigError(f"distillation_losses must hold LogitsDistillation or FeatureDistillation objects, "
                              f"received {type(item).__name__} {item!r}.")
        out.append(item)
    if not out:
        raise ConfigError("distillation_losses is empty; give at least one LogitsDistillation or "
                          "FeatureDistillation, or leave it out for LogitsDistillation().")
    return out


__all__ = ["LogitsDistillation", "FeatureDistillation", "DistillationSpec", "as_specs", "DKD_WARMUP_EPOCHS"]
