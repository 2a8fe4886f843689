"""Feature distillation in the earlier tfcompress shape: ``FeatureDistiller(layer_pairs=..., feature_weight=...)``.

It is a ``Distiller`` whose ``distillation_losses`` are one ``LogitsDistillation`` and a ``FeatureDistillation``
per ``(student_layer, teacher_layer)`` pair; the loss is ``alpha * student_loss + (1 - alpha) * logits_loss +
feature_weight * sum of hint losses`` (each hint weighted ``feature_weight / (1 - alpha)`` inside the Keras-3
style sum). New code can pass the ``FeatureDistillation`` objects to ``Distiller`` directly.
"""

from tfcompress._keras import keras
from tfcompress.distill import defaults
from tfcompress.distill.distiller import Distiller
from tfcompress.distill.specs import FeatureDistillation, LogitsDistillation
from tfcompress.errors import ConfigError


@keras.utils.register_keras_serializable(package="tfcompress")
class FeatureDistiller(Distiller):
    """Logit distillation plus hint losses on intermediate layers.

    Each ``(student_layer, teacher_layer)`` pair adds ``feature_weight * MSE(adapter(student_features),
    teacher_features)``, where the adapter is a learned 1x1 conv (or dense layer) owned by the distiller: it is
    trained with the student but is never part of ``distiller.student``. Student feature maps with a different
    spatial size are resized to the teacher's. Teacher outputs are not cached (its feature maps would have to be
    kept for the whole data set).

    Args:
        student, teacher, temperature, alpha, teacher_outputs, student_outputs: as for ``Distiller``.
        layer_pairs: list of ``(student_layer_name, teacher_layer_name)``.
        feature_weight: weight of each hint loss. Defaults to 1.0.
    """

    def __init__(self, student=None, teacher=None, layer_pairs=None, feature_weight=1.0, temperature=None,
                 alpha=None, loss=None, cache_teacher=False, **kwargs):
        if cache_teacher is True:
            raise ConfigError("FeatureDistiller cannot cache teacher outputs (it needs the teacher's feature maps "
                              "every step); use cache_teacher=False.")
        if not layer_pairs:
            raise ConfigError("layer_pairs is empty; give at least one (student_layer, teacher_layer) pair.")
        self.layer_pairs = [tuple(p) for p in layer_pairs]
        self.feature_weight = float(feature_weight)
        a = defaults.ALPHA if alpha is None else float(alpha)
        hint_weight = self.feature_weight / (1.0 - a) if a < 1.0 else 0.0
        specs = [LogitsDistillation(temperature=defaults.TEMPERATURE if temperature is None else temperature,
                                    loss=loss or defaults.LOSS)]
        specs += [FeatureDistillation(teacher_layer_name=t, student_layer_name=s) for s, t in self.layer_pairs]
        super().__init__(student=student, teacher=teacher, distillation_losses=specs,
                         distillation_loss_weights=[1.0] + [hint_weight] * len(self.layer_pairs), alpha=a,
                         cache_teacher=False, **kwargs)

    def get_config(self):
        config = super().get_config()
        for key in ("distillation_losses", "distillation_loss_weights", "cache_teacher", "student_loss_weight"):
            config.pop(key)
        config.update({"layer_pairs": [list(p) for p in self.layer_pairs], "feature_weight": self.feature_weight,
                       "temperature": self.temperature, "alpha": self.alpha})
        return config
