"""The student families: shapes, widths that never shrink, fully integer int8 files, clear errors."""

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.export import convert, inspect_tflite, predict_tflite
from tfcompress.models import build_mobilenet, build_resnet, build_student, builder_options
from tfcompress.models.blocks import downsampling_plan, make_divisible

L = keras.layers
X = np.random.default_rng(0).random((24, 32, 32, 3)).astype("float32")


def _conv_widths(model):
    return [int(layer.filters) for layer in model.layers if type(layer) is L.Conv2D and "_se_" not in layer.name]


@pytest.mark.parametrize("options", [
    {},
    {"width": 0.35, "depths": (1, 1, 2, 1, 1)},
    {"width": 0.5, "se": True, "activation_fn": "hard_swish", "kernel_size": (3, 5, 5, 3), "expansion": (1, 3, 6, 4)},
])
def test_mobilenet_shapes_blocks_and_residuals(options):
    model = build_mobilenet((32, 32, 3), 7, **options)
    assert model.output_shape == (None, 7)
    depths = options.get("depths", (1, 2, 2, 1))
    adds = {layer.name for layer in model.layers if isinstance(layer, L.Add)}
    names = {layer.name for layer in model.layers}
    for block in (f"s{s}b{b}" for s, d in enumerate(depths) for b in range(d)):
        first = f"{block}_expand_conv" if f"{block}_expand_conv" in names else f"{block}_depthwise_dw"
        same_shape = model.get_layer(first).input_shape == model.get_layer(f"{block}_project_bn").output_shape
        assert (f"{block}_add" in adds) == same_shape, block  # a residual Add exactly where the shape is kept
    assert len(adds) >= sum(d - 1 for d in depths)
    projections = [layer for layer in model.layers if layer.name.endswith("_project_conv")]
    assert len(projections) == sum(depths)
    assert all(layer.activation is keras.activations.linear for layer in projections)  # linear bottleneck
    widths = [int(layer.filters) for layer in projections]
    assert widths == sorted(widths) and all(w % 8 == 0 for w in widths)
    assert any(isinstance(layer, L.Multiply) for layer in model.layers) == bool(options.get("se"))
    assert model.layers[-1].activation is keras.activations.linear  # logits


def test_resnet_identity_and_projection_shortcuts():
    model = build_resnet((32, 32, 3), 5, depths=(2, 1, 1), width=0.5)
    names = [layer.name for layer in model.layers]
    assert "s0b1_add" in names and "s0b1_shortcut_conv" not in names  # identity inside a stage
    assert "s1b0_shortcut_conv" in names and "s2b0_shortcut_conv" in names  # projections where width changes
    widths = _conv_widths(model)
    assert widths == sorted(widths) and model.output_shape == (None, 5)


def test_width_multiplier_scales_parameters_monotonically():
    for build in (build_mobilenet, build_resnet):
        params = [build((32, 32, 3), 10, width=w).count_params() for w in (0.25, 0.5, 1.0, 1.5)]
        assert params == sorted(params) and params[-1] > 4 * params[0]


@pytest.mark.parametrize("family, options", [
    ("mobilenet", {"width": 0.35, "se": True, "activation_fn": "hard_swish"}),
    ("mobilenet", {"width": 0.35, "activation_fn": "relu6"}),
    ("resnet", {"width": 0.25}),
])
def test_families_export_fully_integer(family, options):
    """SE (Multiply), hard-swish (Rescaling, ReLU(1), Multiply) and residual Adds all get int8 kernels."""
    model = build_student(family, (32, 32, 3), 10, **options)
    flat = convert(model, "int8", representative_data=X)
    info = inspect_tflite(flat)
    assert info["is_fully_integer"], info["float_ops"]
    assert "ADD" in info["ops"]
    if options.get("se"):
        assert "MUL" in info["ops"] and "MEAN" in info["ops"]
    # the int8 file tracks the float model: same top-1 on most inputs
    agree = np.mean(predict_tflite(flat, X).argmax(-1) == model.predict(X, verbose=0).argmax(-1))
    assert agree >= 0.75


def test_downsampling_and_divisible_rules():
    assert downsampling_plan(32, 5) == [1, 1, 2, 2, 2]
    assert downsampling_plan(224, 5).count(2) == 5
    assert downsampling_plan(4, 3) == [1, 1, 1]
    assert make_divisible(3, 8) == 8 and make_divisible(37, 8) == 40 and make_divisible(20, 8) == 24
    final = build_mobilenet((96, 96, 3), 3, width=0.25).get_layer("gap").input_shape
    assert final[1] == 3  # 96 px halved five times


def test_build_student_names_bad_families_and_options():
    with pytest.raises(ConfigError, match="valid families: cnn, mlp, mobilenet, resnet"):
        build_student("vgg", (32, 32, 3), 10)
    with pytest.raises(ConfigError, match="no option 'widht'.*width"):
        build_student("mobilenet", (32, 32, 3), 10, widht=0.5)
    with pytest.raises(ConfigError, match="image inputs"):
        build_student("resnet", (64,), 10)
    with pytest.raises(ConfigError, match="non-decreasing"):
        build_mobilenet((32, 32, 3), 10, depths=(1, 1), channels=(32, 16))
    assert "width" in builder_options("resnet") and "se" in builder_options("mobilenet")
