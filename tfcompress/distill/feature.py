"""Feature distillation: student layers learn to match teacher layers (FitNets-style hints)."""

from tfcompress._keras import keras, tf
from tfcompress.distill.checks import to_logits
from tfcompress.distill.distiller import Distiller
from tfcompress.errors import ConfigError, ModelError, ShapeError


def _layer_output(model, name, role):
    try:
        return model.get_layer(name).output
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ModelError(f"the {role} has no layer named {name!r}; its layers are: {', '.join(names)}.") from None


def _adapter(student_shape, teacher_shape, index):
    """A 1x1 conv (feature maps) or dense layer (vectors) mapping student features to the teacher's width."""
    if len(student_shape) != len(teacher_shape):
        raise ShapeError(f"hint pair {index}: student features {student_shape} and teacher features {teacher_shape} "
                         "have different ranks; pair conv layers with conv layers and dense with dense.")
    if len(teacher_shape) == 4:
        layer = keras.layers.Conv2D(teacher_shape[-1], 1, name=f"hint_adapter_{index}")
    elif len(teacher_shape) == 2:
        layer = keras.layers.Dense(teacher_shape[-1], name=f"hint_adapter_{index}")
    else:
        raise ShapeError(f"hint pair {index}: features of rank {len(teacher_shape)} are not supported "
                         "(use conv feature maps [b, h, w, c] or vectors [b, d]).")
    layer.build(student_shape)
    return layer


@keras.utils.register_keras_serializable(package="tfcompress")
class FeatureDistiller(Distiller):
    """Logit distillation plus hint losses on intermediate layers.

    Each ``(student_layer, teacher_layer)`` pair adds ``feature_weight *
    MSE(adapter(student_features), teacher_features)``, where the adapter is
    a learned 1x1 conv (or dense layer) owned by the distiller: it is trained
    with the student but is never part of ``distiller.student``.  Student
    feature maps with a different spatial size are resized to the teacher's.

    Teacher outputs are not cached (its feature maps would have to be kept for
    the whole data set).

    Args:
        student, teacher, temperature, alpha, teacher_outputs, student_outputs: as for ``Distiller``.
        layer_pairs: list of ``(student_layer_name, teacher_layer_name)``.
        feature_weight: weight of each hint loss. Defaults to 1.0.
    """

    def __init__(self, student, teacher, layer_pairs, feature_weight=1.0, cache_teacher=False, **kwargs):
        if cache_teacher is True:
            raise ConfigError("FeatureDistiller cannot cache teacher outputs (it needs the teacher's feature maps "
                              "every step); use cache_teacher=False.")
        super().__init__(student, teacher, cache_teacher=False, **kwargs)
        if not layer_pairs:
            raise ConfigError("layer_pairs is empty; give at least one (student_layer, teacher_layer) pair.")
        self.layer_pairs = [tuple(p) for p in layer_pairs]
        self.feature_weight = float(feature_weight)
        s_feats = [_layer_output(student, s, "student") for s, _ in self.layer_pairs]
        t_feats = [_layer_output(teacher, t, "teacher") for _, t in self.layer_pairs]
        self._student_taps = keras.Model(student.inputs, [student.outputs[0]] + s_feats)
        self._teacher_taps = keras.Model(teacher.inputs, [teacher.outputs[0]] + t_feats)
        self.adapters = [_adapter(tuple(s.shape), tuple(t.shape), i) for i, (s, t) in enumerate(zip(s_feats, t_feats))]

    def _loss_names(self):
        return super()._loss_names() + ("feature_loss",)

    def get_config(self):
        config = super().get_config()
        config.update({"layer_pairs": [list(p) for p in self.layer_pairs], "feature_weight": self.feature_weight})
        config.pop("cache_teacher")
        return config

    def trainable_student_variables(self):
        adapters = [v for a in self.adapters for v in a.trainable_variables]
        return self.student.trainable_variables + adapters

    def compute_losses(self, x, y, sample_weight, training):
        s_out, *s_feats = self._student_taps(x, training=training)
        t_out, *t_feats = self._teacher_taps(x, training=False)
        s_logits = to_logits(s_out, self._student_kind)
        t_logits = tf.stop_gradient(to_logits(t_out, self._teacher_kind))
        hard = self._weighted_mean(self._hard_loss(y, s_out), sample_weight)
        soft = self._weighted_mean(self.distillation_loss_fn(t_logits, s_logits, y), sample_weight)
        hints = []
        for adapter, s_f, t_f in zip(self.adapters, s_feats, t_feats):
            mapped = adapter(s_f)
            if mapped.shape.rank == 4 and mapped.shape[1:3] != t_f.shape[1:3]:
                mapped = tf.image.resize(mapped, t_f.shape[1:3])
            per_sample = tf.reduce_mean(tf.square(mapped - tf.stop_gradient(t_f)), axis=list(range(1, t_f.shape.rank)))
            hints.append(self._weighted_mean(per_sample, sample_weight))
        feature = self.feature_weight * tf.add_n(hints)
        total = self.alpha * hard + (1.0 - self.alpha) * soft + feature
        return y, s_out, {"loss": total, "student_loss": hard, "distillation_loss": soft, "feature_loss": feature}
