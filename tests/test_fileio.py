import os

import pytest

from tfcompress.errors import ModelError
from tfcompress.export import load_keras_model
from tfcompress.fileio import atomic_path, atomic_write


def test_atomic_write_replaces_whole_file_with_usual_mode(tmp_path):
    path = tmp_path / "model.tflite"
    atomic_write(path, b"abc")
    atomic_write(path, "déf")
    assert path.read_bytes() == "déf".encode()
    assert os.stat(path).st_mode & 0o777 != 0o600
    assert sorted(os.listdir(tmp_path)) == ["model.tflite"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    atomic_write(path, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["report.json"]


def test_suffix_is_kept_for_writers_that_look_at_it(tmp_path):
    with atomic_path(tmp_path / "m.keras", suffix=".keras") as tmp:
        assert tmp.endswith(".keras")
        open(tmp, "wb").close()
    assert (tmp_path / "m.keras").exists()


def test_atomic_write_writes_and_replaces(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write(str(target), b"one")
    atomic_write(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_failure_mid_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "model.tflite"

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write(str(target), b"x" * 1000)
    assert not target.exists()
    assert os.listdir(tmp_path) == []  # no temporary file left behind either


def test_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"old")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(OSError):
        atomic_write(str(target), b"new")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.tflite"]


def test_unreadable_keras_file_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="load"):
        load_keras_model(str(bad))
    with pytest.raises(ModelError, match="does not exist"):
        load_keras_model(str(tmp_path / "none.keras"))


def test_saved_keras_model_loads(digits_teacher, tmp_path):
    path = str(tmp_path / "m.keras")
    digits_teacher.save(path)
    loaded = load_keras_model(path)
    assert loaded.count_params() == digits_teacher.count_params()


def test_qat_models_saved_as_h5_load_with_their_wrappers(tmp_path):
    import numpy as np

    from tfcompress.models import build_mlp
    from tfcompress.quantize import quantize_aware_model

    qat = quantize_aware_model(build_mlp((4,), 3, units=(8,)))
    path = str(tmp_path / "qat.h5")
    qat.save(path)
    loaded = load_keras_model(path)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), qat.predict(x, verbose=0), atol=1e-6)
