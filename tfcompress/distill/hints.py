"""Intermediate-layer taps and learned adapters for ``FeatureDistillation`` (FitNets-style hints)."""

from tfcompress._keras import keras, tf
from tfcompress.errors import ModelError, ShapeError


def layer_output(model, name, role):
    """The symbolic output of ``model``'s layer ``name`` (its final output for None)."""
    if name is None:
        return model.outputs[0]
    try:
        return model.get_layer(name).output
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ModelError(f"the {role} has no layer named {name!r}; its layers are: {', '.join(names)}.") from None


def make_adapter(student_shape, teacher_shape, index):
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


def hint_loss(adapter, student_features, teacher_features, kind="mse"):
    """Per-sample MSE (or MAE) between adapted student features and the (fixed) teacher features."""
    mapped = adapter(student_features) if adapter is not None else student_features
    if mapped.shape.rank == 4 and mapped.shape[1:3] != teacher_features.shape[1:3]:
        mapped = tf.image.resize(mapped, teacher_features.shape[1:3])
    diff = mapped - tf.stop_gradient(tf.cast(teacher_features, mapped.dtype))
    per_element = tf.abs(diff) if kind == "mae" else tf.square(diff)
    return tf.reduce_mean(per_element, axis=list(range(1, teacher_features.shape.rank)))


__all__ = ["layer_output", "make_adapter", "hint_loss"]
