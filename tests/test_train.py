import numpy as np

import tfcompress
from tfcompress.train import Trainer


def test_fit_with_teacher_leaves_the_teacher_trainable_flag_as_it_was(tiny_data):
    teacher = tfcompress.build_mlp((6, 6, 1), 4, units=(8,))
    student = tfcompress.build_mlp((6, 6, 1), 4, units=(4,))
    before = [w.copy() for w in teacher.get_weights()]
    Trainer(tiny_data, teacher=teacher).fit(student, epochs=1)
    assert teacher.trainable
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_without_teacher_trains_on_labels(tiny_data):
    model = tfcompress.build_mlp((6, 6, 1), 4, units=(16,))
    trainer = Trainer(tiny_data, learning_rate=1e-2)
    history = trainer.fit(model, epochs=5)
    assert history["loss"][-1] < history["loss"][0]
    assert 0.0 <= trainer.evaluate(model) <= 1.0
