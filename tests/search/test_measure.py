"""The size a candidate is judged by before training is the size of its trained int8 file."""

import numpy as np

import tfcompress
from tfcompress.search import Budget
from tfcompress.search.measure import int8_bytes, int8_bytes_as_trained, measure_candidate
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


def test_arena_is_measured_in_tflm_and_checked_before_latency():
    from tfcompress.export.tflm import measure_arena

    model = tfcompress.build_cnn((8, 8, 1), 4, filters=(8,), dense_units=8)
    rep = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    measured, violations = measure_candidate(model, rep, Budget(max_arena_bytes=10 ** 6), latency=False)
    assert violations == [] and "latency_us" not in measured
    # measured on the file as it will be after training (the untrained one shares constants: its arena differs)
    assert measured["arena_bytes"] == measure_arena(int8_bytes_as_trained(model, rep))["arena_bytes"] > 0
    limit = measured["arena_bytes"] - 16
    measured, violations = measure_candidate(model, rep, Budget(max_arena_bytes=limit))
    assert violations == [f"arena_bytes {measured['arena_bytes']} > max_arena_bytes {limit}"]
    assert "latency_us" not in measured  # stopped at the broken bound


def test_arena_is_not_measured_without_an_arena_bound():
    model = tfcompress.build_mlp((8,), 3, units=(16,))
    measured, _ = measure_candidate(model, np.zeros((4, 8), "float32"), Budget(max_bytes=10 ** 6), latency=False)
    assert "arena_bytes" not in measured
