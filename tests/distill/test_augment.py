"""The distill stage's ``augment: shift`` option: the same shifted images go to teacher and student."""

import numpy as np
import pytest

import tfcompress
from tfcompress.distill import Distill
from tfcompress.distill.stages import shifted_batches
from tfcompress.errors import ConfigError
from tfcompress.train import Trainer


def test_shift_moves_each_image_by_at_most_one_pixel():
    x = np.zeros((64, 8, 8, 1), "float32")
    x[:, 4, 4, 0] = 1.0
    y = np.arange(64) % 10
    positions, labels = set(), []
    for xb, yb in shifted_batches(x, y, batch_size=16, seed=0):
        xb = xb.numpy()
        assert xb.shape[1:] == (8, 8, 1)
        assert np.allclose(xb.sum(axis=(1, 2, 3)), 1.0)  # one pixel, moved but not lost
        for image in xb:
            r, c = np.argwhere(image[..., 0] == 1.0)[0]
            assert abs(r - 4) <= 1 and abs(c - 4) <= 1
            positions.add((r, c))
        labels.extend(yb.numpy().tolist())
    assert len(positions) > 3  # shifts differ between images
    assert sorted(labels) == sorted(y.tolist())  # every sample once per epoch


def test_shift_needs_images_and_a_known_option():
    with pytest.raises(ConfigError, match="image inputs"):
        shifted_batches(np.zeros((4, 64), "float32"), np.zeros(4), 2)
    with pytest.raises(ConfigError, match="augment"):
        Distill(augment="flip")
    stage = Distill(epochs=2, augment="shift")
    assert Distill.from_config(stage.get_config()).get_config()["augment"] == "shift"


def test_stage_with_shift_trains_the_student(digits, digits_teacher):
    trainer = Trainer(digits, teacher=digits_teacher)
    student = tfcompress.build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16)
    stage = Distill(epochs=3, learning_rate=1e-2, augment="shift")
    stage.apply(student, trainer)
    assert stage.report["augment"] == "shift"
    assert stage.report["val_accuracy_after"] > stage.report["val_accuracy_before"] + 0.2


def test_mixup_blends_pairs_of_inputs_and_keeps_the_dominant_label():
    from tfcompress.distill.augment import augmented_batches

    x = np.eye(64, dtype="float32").reshape(64, 64)  # one-hot rows: a blend shows both sources and the shares
    y = np.arange(64)
    blended = 0
    for xb, yb in augmented_batches(x, y, batch_size=16, shift=False, mixup=1.0, seed=0):
        xb, yb = xb.numpy(), yb.numpy()
        assert np.allclose(xb.sum(axis=1), 1.0)  # convex combinations
        for row, label in zip(xb, yb):
            sources = np.flatnonzero(row > 1e-6)
            assert 1 <= len(sources) <= 2
            assert label == sources[np.argmax(row[sources])]  # the label of the larger share
            blended += len(sources) == 2
    assert blended > 32  # Beta(1, 1): most inputs are real blends


def test_mixup_option_is_checked_and_round_trips():
    with pytest.raises(ConfigError, match="mixup"):
        Distill(mixup=-1)
    with pytest.raises(ConfigError, match="mixup"):
        Distill(mixup="lots")
    stage = Distill(epochs=2, augment="shift", mixup=0.4)
    assert Distill.from_config(stage.get_config()).get_config()["mixup"] == 0.4


def test_stage_with_mixup_on_vectors_trains_the_student():
    from tfcompress.data import make_tabular_data

    data = make_tabular_data(n_samples=600, n_features=12, n_classes=3, seed=0)
    teacher = tfcompress.build_mlp((12,), 3, units=(32,))
    Trainer(data, learning_rate=1e-2).fit(teacher, 5)
    student = tfcompress.build_mlp((12,), 3, units=(8,))
    trainer = Trainer(data, teacher=teacher)
    stage = Distill(epochs=4, learning_rate=1e-2, mixup=0.4)
    stage.apply(student, trainer)
    assert stage.report["mixup"] == 0.4 and stage.report["augment"] is None
    assert stage.report["val_accuracy_after"] > stage.report["val_accuracy_before"] + 0.1
