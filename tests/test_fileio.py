import os

import pytest

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
