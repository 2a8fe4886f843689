"""The size a candidate is judged by before training is the size of its trained int8 file."""

import numpy as np

import tfcompress
from tfcompress.search import Budget
from tfcompress.search.measure import int8_bytes, measure_candidate
from tfcompress.train import Trainer


def test_untrained_size_equals_trained_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4, 4, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32")
    data = {"x_train": x[:64], "y_train": y[:64], "x_val": x[64:], "y_val": y[64:]}
    model = tfcompress.build_cnn((4, 4, 1), 2, filters=(8,), dense_units=8, batch_norm=True)
    before = model.get_weights()
    measured, violations = measure_candidate(model, data["x_val"][:32], Budget(max_bytes=10 ** 6))
    assert violations == [] and measured["latency_us"] > 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # initial weights kept
    naive = len(int8_bytes(model, data["x_val"][:32]))
    Trainer(data, batch_size=32).fit(model, 1, validation=False)
    trained = len(int8_bytes(model, data["x_val"][:32]))
    assert measured["int8_bytes"] == trained > naive


def test_measure_stops_at_first_broken_bound():
    model = tfcompress.build_mlp((8,), 3, units=(16,))
    measured, violations = measure_candidate(model, np.zeros((4, 8), "float32"), Budget(max_params=10))
    assert set(measured) == {"params"} and violations == [f"params {model.count_params()} > max_params 10"]
