"""Splits: arrays and streams give the same samples, rows and calibration inputs; targets follow their sample."""

import numpy as np

from tfcompress import load_digits_data, tf
from tfcompress.data import calibration_inputs
from tfcompress.datasets import ArraySplit, StreamSplit, from_arrays
from tfcompress.distill.distiller import TEACHER_KEY


def _stream(name, x, y):
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    return StreamSplit(name, lambda: ds, f"{name} stream")


def test_a_stream_gives_what_the_arrays_give():
    data = load_digits_data()
    x, y = data["x_train"], data["y_train"]
    arrays, stream = ArraySplit("train", x, y), _stream("train", x, y)
    assert stream.size == arrays.size == len(y) and stream.sample_shape == arrays.sample_shape == (8, 8, 1)
    rows = np.sort(np.random.default_rng(0).permutation(len(y))[:50])
    np.testing.assert_array_equal(stream.rows(rows), arrays.rows(rows))
    for (xs, ys), (xa, ya) in zip(stream.numpy_batches(100), arrays.numpy_batches(100)):
        np.testing.assert_array_equal(xs, xa)
        np.testing.assert_array_equal(ys, ya)
    streamed = from_arrays(data)
    streamed.splits = {k: _stream(k, s.x, s.y) for k, s in streamed.splits.items()}
    np.testing.assert_array_equal(calibration_inputs(streamed, 300), calibration_inputs(data, 300))


def test_targets_stay_with_their_sample_when_shuffled(tmp_path):
    n = 300
    x = np.arange(n, dtype="float32").reshape(n, 1)
    y = np.arange(n, dtype="int32")
    targets = np.lib.format.open_memmap(str(tmp_path / "t.npy"), mode="w+", dtype="float32", shape=(n, 2))
    targets[:] = np.stack([y * 10.0, -y], axis=1)
    targets.flush()
    mapped = np.load(str(tmp_path / "t.npy"), mmap_mode="r")
    for split in (_stream("train", x, y), ArraySplit("train", x, y)):
        seen = []
        for xb, yb in split.dataset(32, shuffle=True, seed=3, targets=mapped).as_numpy_iterator():
            np.testing.assert_array_equal(yb["labels"], xb[:, 0].astype("int32"))
            np.testing.assert_array_equal(yb[TEACHER_KEY], np.stack([yb["labels"] * 10.0, -yb["labels"]], 1))
            seen += yb["labels"].tolist()
        assert sorted(seen) == list(range(n)) and seen != list(range(n))


def test_each_pass_of_a_shuffled_order_is_a_new_permutation():
    from tfcompress.datasets.split import sample_order

    ds = sample_order(500, shuffle=True, seed=4)
    first, second = [np.concatenate(list(ds.batch(100).as_numpy_iterator())) for _ in range(2)]
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(500))
    assert first.tolist() != second.tolist() and first.tolist() != list(range(500))
    np.testing.assert_array_equal(np.array(list(sample_order(7).as_numpy_iterator())), np.arange(7))
