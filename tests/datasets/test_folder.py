"""Image folders: the layout checked with one-line errors before any work, images streamed as the model takes them."""

import os

import numpy as np
import pytest
from folders import write_digits_folder

from tfcompress import keras
from tfcompress.datasets import open_data, scan_folder
from tfcompress.errors import DataError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits_folder")
    arrays = write_digits_folder(root, per_split=60)
    return root, arrays


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_classes_labels_and_pixels_are_those_written(folder):
    root, arrays = folder
    source = open_data(str(root)).bind((8, 8, 1))
    assert source.classes == [str(d) for d in range(10)] and sorted(source.splits) == ["test", "train", "val"]
    train = source.split("train")
    assert train.streamed and train.size == 60 and not hasattr(train, "x")  # paths only, no array of images
    x, y = arrays["train"]
    # the folder lists files class by class; match each file to the array row it was written from
    order = [int(os.path.basename(p)[:-4]) for p in train.paths]
    got = np.concatenate([xb for xb, _ in train.numpy_batches(16)])
    np.testing.assert_allclose(got, x[order], atol=1e-6)
    np.testing.assert_array_equal(train.labels, y[order])
    assert source.scale_used == pytest.approx(1 / 255)


def test_images_are_resized_and_given_the_models_channels(folder):
    root, _ = folder
    source = open_data(str(root)).bind((16, 12, 3))
    x, _ = source.split("val").head(5)
    assert x.shape == (5, 16, 12, 3)
    np.testing.assert_array_equal(x[..., 0], x[..., 2])  # grey images repeated into RGB
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_auto_scale_keeps_0_255_for_a_teacher_that_rescales_itself(folder):
    root, _ = folder
    inputs = keras.Input((8, 8, 1))
    teacher = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(
        keras.layers.Rescaling(1 / 255)(inputs))))
    source = open_data(str(root)).bind((8, 8, 1), teacher)
    assert source.scale_used == 1.0 and source.split("val").head(60)[0].max() > 200
    fixed = open_data({"folder": str(root), "scale": 0.5}).bind((8, 8, 1), teacher)
    assert fixed.split("val").head(60)[0].max() <= 127.5
    centred = open_data({"folder": str(root), "scale": 1 / 127.5, "offset": -1}).bind((8, 8, 1), teacher)
    x = centred.split("val").head(60)[0]
    assert x.min() == -1.0 and 0.9 < x.max() <= 1.0  # MobileNet's preprocess_input range
    with pytest.raises(DataError, match="no fixed size"):
        open_data(str(root)).bind((None, None, 3))


def test_a_shuffled_epoch_reads_every_image_once(folder):
    root, _ = folder
    train = open_data(str(root)).bind((8, 8, 1)).split("train")
    seen = np.concatenate([i for i, _, _ in train.indexed(shuffle=True, seed=1).batch(64).as_numpy_iterator()])
    assert sorted(seen.tolist()) == list(range(60)) and seen.tolist() != list(range(60))


def _one_line(exc_info):
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_missing_val_folder(tmp_path):
    os.makedirs(tmp_path / "train" / "cat")
    with pytest.raises(DataError) as exc:
        scan_folder(tmp_path)
    assert "no val/ folder" in _one_line(exc) and "DIR/train/<class>" in str(exc.value)


def test_no_class_subfolders(tmp_path, folder):
    root = _copy(folder[0], tmp_path / "data")
    for name in os.listdir(root / "val"):
        for f in os.listdir(root / "val" / name):
            os.replace(root / "val" / name / f, root / "val" / f"{name}_{f}")
        os.rmdir(root / "val" / name)
    with pytest.raises(DataError) as exc:
        open_data(str(root))
    assert "holds files directly" in _one_line(exc) and "folder named after its class" in str(exc.value)


def test_empty_split_folder(tmp_path):
    os.makedirs(tmp_path / "val")
    with pytest.raises(DataError) as exc:
        scan_folder(tmp_path)
    assert "is empty" in _one_line(exc)


def test_different_classes_in_train_and_val(tmp_path, folder):
    root = _copy(folder[0], tmp_path / "data")
    os.rename(root / "val" / "3", root / "val" / "three")
    with pytest.raises(DataError) as exc:
        open_data(str(root))
    message = _one_line(exc)
    assert "missing ['3']" in message and "extra ['three']" in message


def test_non_image_and_unreadable_files_are_named(tmp_path, folder):
    root = _copy(folder[0], tmp_path / "data")
    notes = root / "train" / "4" / "notes.txt"
    notes.write_text("not an image")
    with pytest.raises(DataError) as exc:
        open_data(str(root))
    assert str(notes) in _one_line(exc) and "not an image" in str(exc.value)
    os.remove(notes)
    fake = root / "test" / "5" / "fake.png"
    fake.write_text("hello")
    with pytest.raises(DataError) as exc:
        open_data(str(root))
    assert str(fake) in _one_line(exc) and "not a PNG" in str(exc.value)
    fake.write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        open_data(str(root))


def test_empty_class_folder(tmp_path, folder):
    root = _copy(folder[0], tmp_path / "data")
    for f in os.listdir(root / "train" / "7"):
        os.remove(root / "train" / "7" / f)
    with pytest.raises(DataError) as exc:
        open_data(str(root))
    assert "7 has no images" in _one_line(exc)


def test_hidden_files_are_ignored(tmp_path, folder):
    root = _copy(folder[0], tmp_path / "data")
    (root / "train" / ".DS_Store").write_text("x")
    (root / "train" / "1" / ".thumbs").write_text("x")
    assert open_data(str(root)).bind((8, 8, 1)).split("train").size == 60
