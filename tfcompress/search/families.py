"""Search spaces of real-image students: MobileNet (inverted residuals) and ResNet (basic blocks).

The oracle draws the *structure* of a candidate (stages, blocks per stage, kernel sizes, expansion ratio,
squeeze-and-excitation, activation); its *width* is not drawn but fitted to the budget
(``tfcompress.search.fit``): the tuner scales the width multiplier until the measured int8 file lands
between ``min_fill x max_bytes`` and ``max_bytes``, so candidates are drawn to fit the budget instead of being
drawn and thrown away. Without a size budget the width is an ordinary hyperparameter.

Stage widths never shrink (the base widths of ``tfcompress.models``), as in MobileNetV2/V3, MnasNet and
MCUNet's TinyNAS spaces. ``ImageSpace`` (``family: auto`` for images larger than 16 px) lets the oracle
choose between the two families.
"""

import keras_tuner

from tfcompress.errors import ConfigError
from tfcompress.models import build_mobilenet, build_resnet

#: Width multipliers tried when no size budget fits the width.
WIDTHS = (0.25, 0.35, 0.5, 0.75, 1.0)
#: Range of the fitted width multiplier (a structure that does not fit at the narrowest loses blocks).
WIDTH_RANGE = (0.25, 4.0)
WIDTH = "width"


def _check_image(family, input_shape):
    if len(tuple(input_shape)) != 3:
        raise ConfigError(f"the {family} family expects image inputs (height, width, channels), received input "
                          f"shape {tuple(input_shape)}. Fix: use family='mlp' for vector inputs.")


class FittedWidthSpace(keras_tuner.HyperModel):
    """A hypermodel whose width multiplier may be fitted to a budget instead of drawn.

    Set ``fit_width = True`` (the search does when the budget bounds size or latency); ``build`` then reads the
    width from ``hp.values["width"]`` (set by ``tfcompress.search.fit.fit_width``), else from the
    ``width`` hyperparameter. ``smaller(values)`` gives the same structure with one block fewer (None when it
    has none to lose), for structures too big for the budget even at the narrowest width.
    """

    width_range = WIDTH_RANGE
    fit_width = False
    min_stages = 1

    def widths_for(self, values):
        """The ``(narrowest, widest)`` fitted width of the structure ``values``."""
        return self.width_range

    def width(self, hp):
        if self.fit_width:
            return float(hp.values.get(WIDTH, 1.0))
        return hp.Choice(WIDTH, list(WIDTHS), default=0.5)

    def smaller(self, values, prefix=""):
        """``values`` with one block fewer: the deepest stage loses a block, else the last stage goes."""
        values = dict(values)
        stages = int(values[f"{prefix}stages"])
        depths = {i: int(values[f"{prefix}depth_{i}"]) for i in range(stages) if f"{prefix}depth_{i}" in values}
        deep = [i for i, d in depths.items() if d > 1]
        if deep:
            i = max(deep, key=lambda j: (depths[j], j))
            values[f"{prefix}depth_{i}"] = depths[i] - 1
            return values
        if stages > self.min_stages:
            values[f"{prefix}stages"] = stages - 1
            for key in [k for k in values if k.startswith(prefix) and k.endswith(f"_{stages - 1}")]:
                values.pop(key)  # the hyperparameters of the stage that went
            return values
        return None


class MobileNetSpace(FittedWidthSpace):
    """MobileNet students (``tfcompress.models.build_mobilenet``).

    Hyperparameters: ``stages`` (min_stages..max_stages), ``depth_<i>`` (blocks of stage i >= 1; the first
    stage has one block of expansion 1, as in MobileNetV2), ``kernel_<i>`` (3 or 5), ``expansion`` (of every
    stage after the first), ``se`` (squeeze-and-excitation), ``activation`` (ReLU6 or hard-swish) and
    ``width`` (fitted, or drawn from ``WIDTHS``).

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: number of output logits.
        min_stages, max_stages: range of the number of stages. Defaults to 3 and 5.
        max_depth: most blocks in a stage. Defaults to 3.
        kernel_sizes: depthwise kernel choices. Defaults to (3, 5).
        expansions: expansion ratio choices. Defaults to (3, 4, 6).
        activations: activation choices. Defaults to ("relu6", "hard_swish").
    """

    #: keras.applications' narrowest MobileNetV2 is alpha 0.35; below it most layers sit at the 8-channel floor
    width_range = (0.35, 4.0)

    def __init__(self, input_shape, num_classes, min_stages=3, max_stages=5, max_depth=3, kernel_sizes=(3, 5),
                 expansions=(3, 4, 6), activations=("relu6", "hard_swish")):
        super().__init__(name="mobilenet")
        _check_image("mobilenet", input_shape)
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.min_stages, self.max_stages, self.max_depth = int(min_stages), int(max_stages), int(max_depth)
        self.kernel_sizes, self.expansions, self.activations = list(kernel_sizes), list(expansions), list(activations)

    def build(self, hp):
        stages = hp.Int("stages", self.min_stages, self.max_stages)
        depths, kernels = [1], [hp.Choice("kernel_0", self.kernel_sizes)]
        for i in range(1, self.max_stages):
            with hp.conditional_scope("stages", list(range(i + 1, self.max_stages + 1))):
                if i < stages:
                    depths.append(hp.Int(f"depth_{i}", 1, self.max_depth))
                    kernels.append(hp.Choice(f"kernel_{i}", self.kernel_sizes))
        expansion = hp.Choice("expansion", self.expansions)
        return build_mobilenet(self.input_shape, self.num_classes, width=self.width(hp), depths=tuple(depths),
                               expansion=(1,) + (expansion,) * (stages - 1), kernel_size=tuple(kernels),
                               se=hp.Boolean("se"), activation_fn=hp.Choice("activation", self.activations),
                               name="student")


class ResNetSpace(FittedWidthSpace):
    """ResNet students (``tfcompress.models.build_resnet``): ``stages``, ``depth_<i>`` and ``width``.

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: number of output logits.
        min_stages, max_stages: range of the number of stages. Defaults to 2 and 4.
        max_depth: most basic blocks in a stage. Defaults to 2.
    """

    def __init__(self, input_shape, num_classes, min_stages=2, max_stages=4, max_depth=2):
        super().__init__(name="resnet")
        _check_image("resnet", input_shape)
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.min_stages, self.max_stages, self.max_depth = int(min_stages), int(max_stages), int(max_depth)

    def build(self, hp):
        stages = hp.Int("stages", self.min_stages, self.max_stages)
        depths = []
        for i in range(self.max_stages):
            with hp.conditional_scope("stages", list(range(i + 1, self.max_stages + 1))):
                if i < stages:
                    depths.append(hp.Int(f"depth_{i}", 1, self.max_depth))
        return build_resnet(self.input_shape, self.num_classes, width=self.width(hp), depths=tuple(depths),
                            name="student")


class ImageSpace(FittedWidthSpace):
    """Either family, chosen by the ``family`` hyperparameter (each family's hyperparameters are conditional)."""

    def __init__(self, input_shape, num_classes, families=("mobilenet", "resnet")):
        super().__init__(name="image")
        _check_image("image", input_shape)
        self.spaces = {"mobilenet": MobileNetSpace(input_shape, num_classes),
                       "resnet": ResNetSpace(input_shape, num_classes)}
        unknown = sorted(set(families) - set(self.spaces))
        if unknown or not families:
            raise ConfigError(f"ImageSpace families must be some of {', '.join(self.spaces)}, received "
                              f"{list(families)!r}.")
        self.families = list(families)
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)

    def widths_for(self, values):
        return self.spaces[values["family"]].width_range

    def smaller(self, values, prefix=""):
        family = values["family"]
        return self.spaces[family].smaller(values, prefix=f"{family}/")

    def build(self, hp):
        family = hp.Choice("family", self.families)
        space = self.spaces[family]
        space.fit_width = self.fit_width
        with hp.conditional_scope("family", [family]):
            return space.build(_Prefixed(hp, family))


class _Prefixed:
    """The hyperparameters of one family inside ``ImageSpace``, named ``<family>/<name>``.

    Names stay distinct across families (both have ``stages`` and ``depth_<i>``); ``values`` and the
    conditional scopes pass through, and ``width`` stays unprefixed so that the fitted width is shared.
    """

    def __init__(self, hp, prefix):
        self._hp, self._prefix = hp, prefix

    def _name(self, name):
        return name if name == WIDTH else f"{self._prefix}/{name}"

    @property
    def values(self):
        return self._hp.values

    def conditional_scope(self, name, values):
        return self._hp.conditional_scope(self._name(name), values)

    def Int(self, name, *args, **kwargs):  # noqa: N802 - KerasTuner's method names
        return self._hp.Int(self._name(name), *args, **kwargs)

    def Choice(self, name, *args, **kwargs):  # noqa: N802
        return self._hp.Choice(self._name(name), *args, **kwargs)

    def Boolean(self, name, *args, **kwargs):  # noqa: N802
        return self._hp.Boolean(self._name(name), *args, **kwargs)


__all__ = ["MobileNetSpace", "ResNetSpace", "ImageSpace", "FittedWidthSpace", "WIDTHS", "WIDTH_RANGE"]
