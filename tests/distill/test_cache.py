"""The teacher runs once per split and run, however many fits (stages, trials) distil from it."""

import numpy as np

from tfcompress import build_mlp
from tfcompress.distill.cache import TeacherCache, fingerprint
from tfcompress.distill.stages import Distill
from tfcompress.train import Trainer


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    return {"x_train": x[:60], "y_train": y[:60], "x_val": x[60:], "y_val": y[60:]}


def test_fits_and_stages_of_a_run_share_the_teachers_outputs():
    data = _data()
    teacher = build_mlp((6,), 2, units=(8,), name="teacher")
    calls = []
    real_predict = teacher.predict
    teacher.predict = lambda x, **kw: calls.append(len(x)) or real_predict(x, **kw)
    cache = TeacherCache(teacher)
    for _ in range(2):  # e.g. two search trials and then a distill stage, each with its own Trainer
        Trainer(data, teacher=teacher, batch_size=16, teacher_cache=cache).fit(build_mlp((6,), 2, units=(4,)), 1)
    Distill(epochs=1).apply(build_mlp((6,), 2, units=(4,)), Trainer(data, teacher=teacher, teacher_cache=cache))
    assert sorted(calls) == [20, 60] and cache.predictions == 2  # train and validation inputs, once each


def test_cache_keys_on_content_and_ignores_other_teachers():
    data = _data()
    teacher, other = build_mlp((6,), 2, name="t"), build_mlp((6,), 2, name="o")
    cache = TeacherCache(teacher)
    first = cache.outputs(teacher, data["x_train"])
    again = cache.outputs(teacher, data["x_train"].copy())  # same content, another array
    changed = data["x_train"].copy()
    changed[0, 0] += 1.0
    cache.outputs(teacher, changed)
    cache.outputs(other, data["x_train"])
    assert cache.predictions == 2 and again is first
    assert fingerprint(changed) != fingerprint(data["x_train"])
    np.testing.assert_allclose(cache.outputs(other, data["x_train"]), other.predict(data["x_train"], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_streamed_split_logits_are_written_once_and_memory_mapped(tmp_path):
    from tfcompress import keras, tf
    from tfcompress.datasets import StreamSplit

    data = _data()
    ds = tf.data.Dataset.from_tensor_slices((data["x_train"], data["y_train"]))
    split = StreamSplit("train", lambda: ds, "train stream")
    inputs = keras.Input((6,))
    teacher = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))  # the cache keeps log-probs
    cache = TeacherCache(teacher, directory=str(tmp_path))
    logits = cache.split_logits(split, batch_size=16)
    files = list(tmp_path.glob("teacher_train_*.npy"))
    assert isinstance(logits, np.memmap) and len(files) == 1 and cache.predictions == 1
    expected = np.log(teacher.predict(data["x_train"], verbose=0))
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
    assert cache.split_logits(split) is logits and cache.predictions == 1
    again = TeacherCache(teacher, directory=str(tmp_path))  # a resumed run, or the next stage's process
    np.testing.assert_array_equal(again.split_logits(split), logits)
    assert again.predictions == 0
    teacher.layers[-1].kernel.assign(teacher.layers[-1].kernel * 2.0)  # another teacher: another file
    TeacherCache(teacher, directory=str(tmp_path)).split_logits(split)
    assert len(list(tmp_path.glob("teacher_train_*.npy"))) == 2
