"""Model builders: the reference architectures of the demo, tests and benchmarks, and the search families.

Every builder returns a functional ``tf_keras`` model that outputs *logits* (no softmax), which is what
distillation and export expect. ``build_student(family, ...)`` is the one place that maps a family name
(``cnn``, ``mlp``, ``mobilenet``, ``resnet``) to its builder, for recipes (``student: {family: ...}``), the
search spaces and Python code.
"""

import inspect

from tfcompress.errors import ConfigError
from tfcompress.models.blocks import make_divisible
from tfcompress.models.mobilenet import build_mobilenet
from tfcompress.models.plain import build_cnn, build_mlp
from tfcompress.models.resnet import build_resnet

#: family name -> builder ``(input_shape, num_classes, **options)``.
BUILDERS = {"cnn": build_cnn, "mlp": build_mlp, "mobilenet": build_mobilenet, "resnet": build_resnet}


def builder_options(family):
    """The options a family's builder takes (besides ``input_shape`` and ``num_classes``)."""
    if family not in BUILDERS:
        raise ConfigError(f"unknown student family {family!r}; valid families: {', '.join(BUILDERS)}.")
    params = inspect.signature(BUILDERS[family]).parameters
    return [p for p in params if p not in ("input_shape", "num_classes")]


def build_student(family, input_shape, num_classes, **options):
    """Build a student of ``family`` ("cnn", "mlp", "mobilenet", "resnet"); list options become tuples.

    Raises:
        ConfigError: an unknown family or option (the message lists the valid ones).

    Example:
        >>> build_student("resnet", (32, 32, 3), 10, width=0.5).output_shape
        (None, 10)
    """
    valid = builder_options(family)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"student family {family!r} has no option {unknown[0]!r}; valid options: "
                          f"{', '.join(valid)}.")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return BUILDERS[family](tuple(input_shape), int(num_classes), **options)


__all__ = ["build_cnn", "build_mlp", "build_mobilenet", "build_resnet", "build_student", "builder_options",
           "make_divisible", "BUILDERS"]
