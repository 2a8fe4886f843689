import numpy as np
import pytest

import tfcompress
from tfcompress import keras
from tfcompress.distill import FeatureDistiller
from tfcompress.errors import ConfigError, ModelError, ShapeError


def student():
    return tfcompress.build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16)


def test_hints_train_and_adapters_stay_out_of_the_student(digits, digits_teacher):
    s = student()
    n_params = s.count_params()
    d = FeatureDistiller(student=s, teacher=digits_teacher, layer_pairs=[("relu0", "relu1"), ("dense", "dense")])
    d.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    h = d.fit(digits["x_train"][:512], digits["y_train"][:512], epochs=3, batch_size=64, verbose=0)
    assert h.history["feature_loss"][-1] < h.history["feature_loss"][0]
    assert s.count_params() == n_params
    assert not any("hint_adapter" in w.name for w in s.weights)
    assert len(d.trainable_student_variables()) == len(s.trainable_variables) + 4
    result = d.evaluate(digits["x_val"], digits["y_val"], verbose=0, return_dict=True)
    assert {"feature_loss", "distillation_loss", "student_loss", "accuracy"} <= set(result)


def test_spatial_sizes_are_matched(digits, digits_teacher):
    # student relu0 is 8x8, teacher relu1 is 4x4 after pooling: the student map is resized
    d = FeatureDistiller(student=student(), teacher=digits_teacher, layer_pairs=[("relu0", "relu1")])
    d.compile(optimizer="adam")
    out = d.evaluate(digits["x_val"][:32], digits["y_val"][:32], verbose=0, return_dict=True)
    assert np.isfinite(out["feature_loss"])


def test_errors_name_the_problem(digits_teacher):
    with pytest.raises(ModelError, match="no layer named 'missing'"):
        FeatureDistiller(student=student(), teacher=digits_teacher, layer_pairs=[("missing", "relu1")])
    with pytest.raises(ShapeError, match="different ranks"):
        FeatureDistiller(student=student(), teacher=digits_teacher, layer_pairs=[("relu0", "dense")])
    with pytest.raises(ConfigError):
        FeatureDistiller(student=student(), teacher=digits_teacher, layer_pairs=[])
    with pytest.raises(ConfigError, match="cannot cache"):
        FeatureDistiller(student=student(), teacher=digits_teacher, layer_pairs=[("dense", "dense")],
                         cache_teacher=True)


def test_config_round_trip(digits_teacher):
    d = FeatureDistiller(student=student(), teacher=digits_teacher, layer_pairs=[("dense", "dense")],
                         feature_weight=0.5, temperature=2.0)
    again = FeatureDistiller.from_config(d.get_config())
    assert again.layer_pairs == [("dense", "dense")] and again.feature_weight == 0.5 and again.temperature == 2.0
