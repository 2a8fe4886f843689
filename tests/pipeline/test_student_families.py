"""Every student family works as ``student: {family: ...}`` in a recipe, through the real command."""

import numpy as np
import pytest

from tfcompress import build_mobilenet, keras
from tfcompress.cli import main
from tfcompress.errors import ConfigError
from tfcompress.pipeline.recipe import parse_recipe

HEAD = "teacher: t.keras\ndata: d.npz\noutput: out/\n"


def test_recipe_student_specs_of_every_family_are_checked():
    for spec in ("{family: mobilenet, width: 0.35, se: true}", "{family: resnet, depths: [1, 1]}"):
        parse_recipe(HEAD + f"student: {spec}\nstages:\n  - distill: {{}}\n")
    with pytest.raises(ConfigError, match=r"student \(mobilenet\) has no option 'widht'.*width"):
        parse_recipe(HEAD + "student: {family: mobilenet, widht: 0.35}\nstages: []\n")
    with pytest.raises(ConfigError, match="mobilenet, resnet"):
        parse_recipe(HEAD + "student: {family: vgg}\nstages: []\n")


def test_a_mobilenet_student_from_the_recipe_is_distilled_and_exported(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((120, 16, 16, 3)).astype("float32")
    y = (x[..., 0].mean(axis=(1, 2)) > x[..., 1].mean(axis=(1, 2))).astype("int32")
    np.savez(tmp_path / "d.npz", x_train=x[:80], y_train=y[:80], x_val=x[80:], y_val=y[80:])
    teacher = build_mobilenet((16, 16, 3), 2, width=0.5, depths=(1, 1), name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x[:80], y[:80], epochs=2, verbose=0)
    teacher.save(tmp_path / "t.keras")
    (tmp_path / "r.yaml").write_text(
        f"teacher: {tmp_path / 't.keras'}\ndata: {tmp_path / 'd.npz'}\noutput: {tmp_path / 'out'}\n"
        "latency_runs: 0\nstudent: {family: mobilenet, width: 0.35, depths: [1, 1], se: true, "
        "activation_fn: hard_swish}\nstages:\n  - distill: {epochs: 1}\n  - export: {format: int8}\n")
    assert main(["run", str(tmp_path / "r.yaml"), "--quiet"]) == 0
    card = (tmp_path / "out" / "model.json").read_text()
    assert '"is_fully_integer": true' in card and "MUL" in card  # SE and hard-swish made it into the file
