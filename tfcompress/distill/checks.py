"""Checks run before any training step: models built, shapes compatible, labels fitting."""

import numpy as np

from tfcompress._compat import build_input_shape
from tfcompress._keras import keras, tf
from tfcompress.data import check_labels
from tfcompress.errors import ModelError, ShapeError


def require_built(model, role):
    """Raise ModelError if ``model`` is not a built ``tf_keras`` model."""
    if not isinstance(model, keras.Model):
        hint = ""
        if type(model).__module__.startswith("keras"):
            hint = " It looks like a Keras 3 model: convert it with tfcompress.interop.to_tf_keras(model)."
        raise ModelError(f"the {role} must be a tf_keras Model (build it with tfcompress.keras), "
                         f"received {type(model).__module__}.{type(model).__name__}.{hint}")
    if not model.built or not model.inputs and not build_input_shape(model):
        raise ModelError(f"the {role} {model.name!r} is not built: give it an Input layer or call "
                         f"{role}.build(input_shape) first.")


def check_pair(student, teacher):
    """Teacher and student must take the same input and give the same number of class scores."""
    require_built(student, "student")
    require_built(teacher, "teacher")
    s_in, t_in = tuple(student.input_shape[1:]), tuple(teacher.input_shape[1:])
    if s_in != t_in:
        raise ShapeError(f"teacher input shape {t_in} differs from student input shape {s_in}; "
                         "both must read the same inputs.")
    s_out, t_out = tuple(student.output_shape[1:]), tuple(teacher.output_shape[1:])
    if s_out != t_out:
        raise ShapeError(f"teacher output shape {t_out} differs from student output shape {s_out}; the student "
                         "must predict the same classes as the teacher (same last-layer width).")
    if len(s_out) != 1 or s_out[0] is None or s_out[0] < 2:
        raise ShapeError(f"outputs of shape {s_out} are not class scores; distillation needs [batch, classes] "
                         "logits or probabilities with at least 2 classes.")


def output_kind(model):
    """``"probabilities"`` if the model ends in a softmax, else ``"logits"``."""
    layer = model.layers[-1]
    while hasattr(layer, "layer") and isinstance(layer.layer, keras.layers.Layer):  # TFMOT wrappers
        layer = layer.layer
    if isinstance(layer, keras.layers.Softmax):
        return "probabilities"
    act = getattr(layer, "activation", None)
    while act is not None and not hasattr(act, "__name__") and hasattr(act, "activation"):
        act = act.activation  # TFMOT's QuantizeAwareActivation wraps the layer's own activation
    if act is not None and getattr(act, "__name__", "") == "softmax":
        return "probabilities"
    return "logits"


def to_logits(outputs, kind):
    """Logits from a model's outputs; ``kind="probabilities"`` takes the log (same softened distributions)."""
    if kind == "probabilities":
        return tf.math.log(tf.clip_by_value(outputs, 1e-30, 1.0))
    return outputs


def check_inputs_and_labels(x, y, model):
    """Array inputs must fit the model's input shape and labels its outputs (before any training step)."""
    if x is None or not hasattr(x, "shape"):
        return
    expected = tuple(model.input_shape[1:])
    got = tuple(np.shape(x)[1:])
    if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
        raise ShapeError(f"inputs have shape {got} per sample but the models expect {expected}.")
    if y is not None and hasattr(y, "shape") and not isinstance(y, dict):
        check_labels(np.asarray(y), name="labels", num_classes=model.output_shape[-1])
