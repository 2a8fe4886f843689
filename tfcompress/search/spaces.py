"""Search spaces of small students, as KerasTuner hypermodels.

A space only describes candidates (``build(hp)`` returns an untrained
``tf_keras`` model that outputs logits); the oracle chooses, the tuner trains.
Both built-in families are aimed at small students (a few thousand to about a
hundred thousand parameters) and build through ``tfcompress.models``.
"""

import inspect

import keras_tuner

from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.models import build_cnn, build_mlp

FAMILIES = ("auto", "cnn", "mlp", "mobilenet", "resnet")
_CNN_POOLING = "pooling" in inspect.signature(build_cnn).parameters
SMALL_INPUT = 16


class CNNSpace(keras_tuner.HyperModel):
    """CNN students for image-like inputs ``(height, width, channels)``.

    Hyperparameters: ``stages`` (1..max_stages), ``filters_<i>`` per active stage, ``kernel_size``,
    ``separable`` (depthwise-separable convs after the first stage), ``batch_norm`` and ``dense_units``
    (width of the dense head, 0 for none), and ``pooling`` ("gap" or "flatten") when
    ``tfcompress.models.build_cnn`` offers it. Inputs of at most ``SMALL_INPUT`` pixels a side always
    flatten (on 8x8 digits global average pooling lost most of the accuracy and, its models being tiny,
    took many of the draws of a byte-budgeted search) and use plain convolutions: in
    ``benchmarks/search_quality.py`` (16 random candidates under a 10 kB int8 budget, each fully distilled)
    the separable students scored 1.1 points lower on average (97.2% vs 98.3%) and had fewer weights per
    byte, their int8 files spending bytes on extra operators.

    Args:
        input_shape: shape of one input, e.g. ``(8, 8, 1)``.
        num_classes: number of output logits.
        max_stages: most conv stages. Defaults to 3.
        filters: choices of filters per stage. Defaults to (4, 8, 16, 32, 48).
        kernel_sizes: choices of kernel size. Defaults to (3, 5).
        dense_units: choices of dense head width. Defaults to (0, 16, 32, 64).
    """

    def __init__(self, input_shape, num_classes, max_stages=3, filters=(4, 8, 16, 32, 48), kernel_sizes=(3, 5),
                 dense_units=(0, 16, 32, 64)):
        super().__init__(name="cnn")
        if len(tuple(input_shape)) != 3:
            raise ConfigError(f"the cnn family expects image inputs (height, width, channels), received input "
                              f"shape {tuple(input_shape)}. Fix: use family='mlp' for vector inputs.")
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.max_stages = int(max_stages)
        self.filters = list(filters)
        self.kernel_sizes = list(kernel_sizes)
        self.dense_units = list(dense_units)

    def build(self, hp):
        stages = hp.Int("stages", 1, self.max_stages)
        filters = []
        for i in range(self.max_stages):
            with hp.conditional_scope("stages", list(range(i + 1, self.max_stages + 1))):
                if i < stages:
                    filters.append(hp.Choice(f"filters_{i}", self.filters))
        small = min(self.input_shape[:2]) <= SMALL_INPUT
        extra = {}
        if _CNN_POOLING:  # small inputs (8x8 digits) keep their layout: global average pooling loses it
            extra = {"pooling": hp.Fixed("pooling", "flatten") if small else hp.Choice("pooling", ["gap", "flatten"])}
        # small inputs: plain convolutions only (separable ones save few weights at these widths and cost operators)
        separable = hp.Fixed("separable", False) if small else hp.Boolean("separable")
        return build_cnn(self.input_shape, self.num_classes, filters=tuple(filters), **extra,
                         kernel_size=hp.Choice("kernel_size", self.kernel_sizes),
                         dense_units=hp.Choice("dense_units", self.dense_units),
                         separable=separable, batch_norm=hp.Boolean("batch_norm", default=True),
                         name="student")


class MLPSpace(keras_tuner.HyperModel):
    """MLP students for vector inputs (higher ranks are flattened).

    Hyperparameters: ``depth`` (1..max_depth) and ``units_<i>`` per active layer.

    Args:
        input_shape: shape of one input, e.g. ``(24,)``.
        num_classes: number of output logits.
        max_depth: most hidden layers. Defaults to 3.
        units: choices of width per hidden layer. Defaults to (16, 32, 64, 128).
    """

    def __init__(self, input_shape, num_classes, max_depth=3, units=(16, 32, 64, 128)):
        super().__init__(name="mlp")
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.max_depth = int(max_depth)
        self.units = list(units)

    def build(self, hp):
        depth = hp.Int("depth", 1, self.max_depth)
        units = []
        for i in range(self.max_depth):
            with hp.conditional_scope("depth", list(range(i + 1, self.max_depth + 1))):
                if i < depth:
                    units.append(hp.Choice(f"units_{i}", self.units))
        return build_mlp(self.input_shape, self.num_classes, units=tuple(units), name="student")


def shapes_of(teacher):
    """``(input_shape, num_classes)`` of a classifier (the teacher)."""
    try:
        input_shape = tuple(teacher.input_shape[1:])
        num_classes = int(teacher.output_shape[-1])
    except (AttributeError, TypeError, ValueError) as exc:
        raise ModelError(f"expected a built Keras classifier with one input and one output as the teacher, "
                         f"received {type(teacher).__name__} ({exc}). Fix: pass a functional or built "
                         f"tf_keras model.") from None
    return input_shape, num_classes


def make_space(family, input_shape, num_classes):
    """The built-in hypermodel of ``family`` for these shapes.

    ``"auto"`` picks by the input: the MLP family for vectors, the CNN family for images of at most
    ``SMALL_INPUT`` pixels a side (8x8 digits: a flattened plain CNN was best there, see ``CNNSpace``), and for
    larger images ``ImageSpace``, whose ``family`` hyperparameter lets the oracle choose between MobileNet and
    ResNet students (their widths fitted to the budget).
    """
    from tfcompress.search.families import ImageSpace, MobileNetSpace, ResNetSpace

    if family not in FAMILIES:
        raise ConfigError(f"unknown search family {family!r}; valid families: {', '.join(FAMILIES)}, or pass "
                          f"your own build(hp) function as hypermodel.")
    shape = tuple(input_shape)
    if family == "auto":
        if len(shape) != 3:
            family = "mlp"
        elif min(shape[:2]) <= SMALL_INPUT:
            family = "cnn"
        else:
            return ImageSpace(shape, num_classes)
    spaces = {"cnn": CNNSpace, "mlp": MLPSpace, "mobilenet": MobileNetSpace, "resnet": ResNetSpace}
    return spaces[family](shape, num_classes)


def as_hypermodel(hypermodel):
    """A KerasTuner ``HyperModel`` from a HyperModel or a ``build(hp)`` callable."""
    if isinstance(hypermodel, keras_tuner.HyperModel):
        return hypermodel
    if callable(hypermodel):
        return _FunctionSpace(hypermodel)
    raise ConfigError(f"expected a keras_tuner.HyperModel or a build(hp) function returning a tf_keras model, "
                      f"received {type(hypermodel).__name__}.")


class _FunctionSpace(keras_tuner.HyperModel):
    def __init__(self, build_fn):
        super().__init__(name=getattr(build_fn, "__name__", "custom"))
        self.build_fn = build_fn

    def build(self, hp):
        return self.build_fn(hp)


def check_student(model):
    """Raise ``ModelError`` unless ``model`` is a ``tf_keras`` model."""
    if not isinstance(model, keras.Model):
        raise ModelError(f"expected build(hp) to return a tf_keras model (tfcompress.keras.Model), received "
                         f"{type(model).__module__}.{type(model).__name__}. Fix: build the student with "
                         f"tfcompress.keras (Keras 2), not with Keras 3's `keras`.")
    return model


def smallest_values(hypermodel, space):
    """Hyperparameter values of (approximately) the smallest candidate in ``space``.

    Numeric hyperparameters take their smallest value; booleans and non-numeric choices are
    tried in turn and the value giving fewer parameters is kept (one greedy pass).

    Args:
        hypermodel: a KerasTuner ``HyperModel``.
        space: the populated ``keras_tuner.HyperParameters`` of the search.

    Returns:
        dict of hyperparameter values.
    """
    values = {}
    to_try = []
    for hp in space.space:
        cfg = hp.get_config()
        if "min_value" in cfg:
            values[hp.name] = cfg["min_value"]
        elif "values" in cfg:
            vals = cfg["values"]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                values[hp.name] = min(vals)
            else:
                to_try.append((hp.name, list(vals)))
        elif "value" in cfg:  # Fixed
            values[hp.name] = cfg["value"]
        else:  # Boolean
            to_try.append((hp.name, [False, True]))
    for name, _ in to_try:
        values[name] = space.values.get(name)
    for name, options in to_try:
        best = None
        for option in options:
            trial_values = dict(values, **{name: option})
            n = count_params(hypermodel, space, trial_values)
            if best is None or n < best[0]:
                best = (n, option)
        values[name] = best[1]
    return values


def build_with(hypermodel, space, values):
    """Build a candidate of ``hypermodel`` with fixed hyperparameter ``values``."""
    hp = space.copy()
    hp.values = dict(hp.values, **{k: v for k, v in values.items() if v is not None})
    return check_student(hypermodel.build(hp))


def count_params(hypermodel, space, values):
    keras.backend.clear_session()
    return int(build_with(hypermodel, space, values).count_params())


__all__ = ["CNNSpace", "MLPSpace", "make_space", "as_hypermodel", "shapes_of", "smallest_values",
           "build_with", "check_student", "FAMILIES"]
