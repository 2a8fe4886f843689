"""A quiet terminal: the commands print tfcompress's own lines only; the libraries' output is captured."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tfcompress import build_cnn, console, keras

OWN = re.compile(r"^(\[\d+/\d+\] |measuring the teacher|teacher: |done in |budget |resuming|state in )")
NOISE = ("WARNING", "I0000", "E0000", "absl", "fully_quantize", "XNNPACK", "Epoch ", "cuInit", "UserWarning")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("console")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32")
    np.savez(root / "d.npz", x_train=x[:80], y_train=y[:80], x_val=x[80:], y_val=y[80:])
    teacher = build_cnn((6, 6, 1), 2, filters=(4,), dense_units=8, name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.save(root / "t.keras")
    path = root / "r.yaml"
    path.write_text("teacher: t.keras\ndata: d.npz\noutput: out\nlatency_runs: 5\n"
                    "student: {family: cnn, filters: [4], dense_units: 8}\n"
                    "stages:\n  - distill: {epochs: 2}\n  - export: {format: int8}\n")
    return path


def _run(recipe, *flags):
    import shutil

    shutil.rmtree(recipe.parent / "out", ignore_errors=True)  # a fresh run, not a resumed one
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFCOMPRESS_VERBOSE")}
    return subprocess.run([sys.executable, "-m", "tfcompress.cli", "run", str(recipe), *flags], cwd=recipe.parent,
                          capture_output=True, text=True, env=env, timeout=600)


def test_run_prints_its_own_lines_only(recipe):
    proc = _run(recipe)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines and all(OWN.match(line) for line in lines), [line for line in lines if not OWN.match(line)]
    assert any("distill: epoch 2/2" in line for line in lines)  # progress with the epoch it is at
    assert proc.stderr.strip() == "", proc.stderr[-2000:]
    assert not any(word in proc.stdout for word in NOISE)


def test_verbose_shows_the_libraries_output(recipe):
    proc = _run(recipe, "--verbose")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Epoch 1/2" in proc.stdout + proc.stderr  # Keras's own per-epoch lines


def test_captured_native_output_is_shown_only_when_the_block_fails(capfd):
    console.enable()
    try:
        with console.captured("a quiet call"):
            os.write(1, b"native chatter\n")
        with pytest.raises(RuntimeError):
            with console.captured("a failing call"):
                os.write(2, b"native cause of the failure\n")
                raise RuntimeError("failed")
    finally:
        console.disable()
    out, err = capfd.readouterr()
    assert "native chatter" not in out + err
    assert "[output of a failing call]" in err and "native cause of the failure" in err
