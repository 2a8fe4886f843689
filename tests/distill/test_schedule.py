import numpy as np
import pytest

import tfcompress
from tfcompress import keras, tf
from tfcompress.distill import CosineDecay


def _model():
    model = tfcompress.build_mlp((4,), 2, units=(4,))
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _recorder(model, lrs):
    return keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: lrs.append(float(keras.backend.get_value(model.optimizer.learning_rate))))


def test_decays_per_step_to_zero_and_restores_the_peak():
    model, lrs = _model(), []
    x, y = np.zeros((64, 4), "float32"), np.zeros(64, "int32")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[CosineDecay(), _recorder(model, lrs)])
    assert len(lrs) == 16 and lrs[0] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 0.01
    assert float(keras.backend.get_value(model.optimizer.learning_rate)) == pytest.approx(0.1)


def test_unknown_dataset_length_decays_per_epoch_instead_of_collapsing():
    def gen():
        for _ in range(12):
            yield np.zeros(4, "float32"), 0

    ds = tf.data.Dataset.from_generator(
        gen, output_signature=(tf.TensorSpec((4,), tf.float32), tf.TensorSpec((), tf.int32))).batch(2)
    model, lrs = _model(), []
    model.fit(ds, epochs=3, verbose=0, callbacks=[CosineDecay(), _recorder(model, lrs)])
    first_epoch = lrs[:6]
    assert first_epoch == [pytest.approx(0.1)] * 6  # constant within an epoch, not zero after a few batches
    assert 0 < lrs[-1] < 0.1


def test_time_limit_plans_fewer_epochs_and_completes_the_decay():
    import time

    from tfcompress.distill.schedule import TimeLimit

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 2, 64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    schedule = CosineDecay()
    limit = TimeLimit(3.0, schedule)
    rates = []

    class SlowEpochs(keras.callbacks.Callback):  # each epoch costs 0.3 s more than its compute
        def on_train_batch_begin(self, batch, logs=None):
            rates.append(float(keras.backend.get_value(self.model.optimizer.learning_rate)))

        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.3)

    start = time.perf_counter()
    model.fit(x, y, batch_size=16, epochs=100, verbose=0, callbacks=[schedule, SlowEpochs(), limit])
    assert 2 <= limit.epochs_run == limit.epochs_planned < 100
    assert time.perf_counter() - start < 3.0 + 1.5  # within the limit, give or take one epoch
    assert rates[-1] < 0.3 * rates[0]  # the cosine decay ran to (near) its end over the shorter plan
