"""TFRecord files with a feature spec, and a user's own tf.data datasets, as streamed splits."""

import numpy as np
import pytest

from tfcompress import load_digits_data, tf
from tfcompress.datasets import open_data
from tfcompress.errors import ConfigError, DataError


def _write(path, x, y, encoding):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(x, y):
            pixels = np.round(image * 255).astype("uint8")
            value = tf.io.encode_png(pixels).numpy() if encoding == "image" else pixels.tobytes()
            example = tf.train.Example(features=tf.train.Features(feature={
                "img": tf.train.Feature(bytes_list=tf.train.BytesList(value=[value])),
                "cls": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}))
            writer.write(example.SerializeToString())


@pytest.fixture(scope="module")
def digits():
    return load_digits_data()


@pytest.mark.parametrize("encoding", ["image", "raw"])
def test_records_stream_the_written_samples(tmp_path, digits, encoding):
    for split in ("train", "val"):
        half = len(digits[f"x_{split}"]) // 2
        for part, rows in enumerate((slice(0, half), slice(half, None))):
            _write(tmp_path / f"{split}-{part}.tfrecord", digits[f"x_{split}"][rows], digits[f"y_{split}"][rows],
                   encoding)
    spec = {"tfrecord": {"train": str(tmp_path / "train-*.tfrecord"), "val": str(tmp_path / "val-*.tfrecord")},
            "image_key": "img", "label_key": "cls", "encoding": encoding}
    if encoding == "raw":
        spec.update(shape=[8, 8, 1], scale=1 / 255)
    source = open_data(spec).bind((8, 8, 1))
    val = source.split("val")
    assert val.streamed and val.size == len(digits["y_val"])
    np.testing.assert_array_equal(val.labels, digits["y_val"])
    x = np.concatenate([xb for xb, _ in val.numpy_batches(100)])
    np.testing.assert_allclose(x, np.round(digits["x_val"] * 255) / 255, atol=1e-6)
    rows = [3, 10, 200]
    np.testing.assert_allclose(val.rows(rows), x[rows], atol=0)
    assert source.fingerprint() == open_data(spec).bind((8, 8, 1)).fingerprint()


def test_a_wrong_key_or_missing_files_are_named_before_work(tmp_path, digits):
    _write(tmp_path / "val.tfrecord", digits["x_val"][:5], digits["y_val"][:5], "image")
    with pytest.raises(DataError, match="no file matches") as exc:
        open_data({"tfrecord": {"val": str(tmp_path / "nothing-*.tfrecord")}})
    assert "\n" not in str(exc.value)
    source = open_data({"tfrecord": {"val": str(tmp_path / "val.tfrecord")}, "image_key": "pixels"})
    with pytest.raises(DataError, match="does not fit the feature spec") as exc:
        source.bind((8, 8, 1))
    assert "'pixels'" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="needs `shape:`"):
        open_data({"tfrecord": {"val": str(tmp_path / "val.tfrecord")}, "encoding": "raw"})
    with pytest.raises(ConfigError, match="unknown tfrecord keys"):
        open_data({"tfrecord": {"val": str(tmp_path / "val.tfrecord")}, "labels": "y"})


def test_user_datasets_batched_or_not(digits):
    x, y = digits["x_val"], digits["y_val"]
    batched = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    plain = tf.data.Dataset.from_tensor_slices((x, y))
    source = open_data({"train": plain, "val": batched}).bind((8, 8, 1))
    for name in ("train", "val"):
        split = source.split(name)
        assert split.size == len(y)
        np.testing.assert_array_equal(split.labels, y)
        np.testing.assert_allclose(split.head(7)[0], x[:7])
    with pytest.raises(DataError, match=r"shape \(64,\) but the model expects \(8, 8, 1\)"):
        open_data({"val": tf.data.Dataset.from_tensor_slices((x.reshape(-1, 64), y))}).bind((8, 8, 1))
    with pytest.raises(ConfigError, match="val required"):
        open_data({"train": plain})
