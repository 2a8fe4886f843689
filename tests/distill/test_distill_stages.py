import pytest

import tfcompress
from tfcompress.distill import Distill, FeatureDistill
from tfcompress.errors import ConfigError
from tfcompress.stage import get_stage_class
from tfcompress.train import Trainer


@pytest.mark.parametrize("cls", [Distill, FeatureDistill])
def test_config_round_trip_and_registration(cls):
    stage = cls(epochs=3, temperature=2.0)
    assert cls.from_config(stage.get_config()).get_config() == stage.get_config()
    assert get_stage_class(cls.name) is cls


@pytest.mark.parametrize("cls", [Distill, FeatureDistill])
def test_stage_improves_the_student(cls, digits, digits_teacher):
    trainer = Trainer(digits, teacher=digits_teacher)
    student = tfcompress.build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16)
    stage = cls(epochs=4, temperature=2.0, learning_rate=3e-3)
    out = stage.apply(student, trainer)
    assert out is student
    assert stage.report["val_accuracy_after"] > stage.report["val_accuracy_before"] + 0.2


def test_distill_needs_a_student(digits, digits_teacher):
    with pytest.raises(ConfigError, match="needs a student"):
        Distill().apply(digits_teacher, Trainer(digits, teacher=digits_teacher))
    with pytest.raises(ConfigError, match="needs a teacher"):
        Distill().apply(tfcompress.build_mlp((8, 8, 1), 10), Trainer(digits))
