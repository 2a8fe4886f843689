"""Truncated-SVD factorization of whole tf_keras models."""

import json

import numpy as np
import pytest

from tfcompress import build_cnn, build_mlp
from tfcompress._keras import keras, tf
from tfcompress.errors import BudgetError, ConfigError, ModelError
from tfcompress.lowrank import factorize_svd


@pytest.fixture(autouse=True)
def seed():
    keras.utils.set_random_seed(0)


def _x(shape, n=16):
    return np.random.default_rng(1).normal(size=(n,) + tuple(shape)).astype("float32")


def _max_diff(a, b, x):
    return float(np.max(np.abs(a(x, training=False).numpy() - b(x, training=False).numpy())))


@pytest.mark.parametrize("conv_mode", ["channel", "spatial"])
def test_full_rank_cnn_matches_original(conv_mode):
    model = build_cnn((8, 8, 2), 5, filters=(6, 8), dense_units=12)
    new, report = factorize_svd(model, energy=1.0, conv_mode=conv_mode, only_if_smaller=False)
    assert set(report["factorized"]) == {"conv0", "conv1", "dense", "logits"}
    assert _max_diff(model, new, _x((8, 8, 2))) < 1e-4
    assert new is not model and len(new.layers) == len(model.layers) + 4
    assert new.get_layer("conv0_svd").kernel_size == ((3, 3) if conv_mode == "channel" else (3, 1))
    assert new.get_layer("conv0").kernel_size == ((1, 1) if conv_mode == "channel" else (1, 3))


def test_full_rank_strided_valid_and_dilated_convs_match():
    inp = keras.Input((9, 10, 3))
    x = keras.layers.Conv2D(5, (3, 2), strides=2, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.Conv2D(4, 3, dilation_rate=2, padding="valid", name="c2")(x)
    seq = keras.Input((12, 3))
    y = keras.layers.Conv1D(4, 3, padding="causal", name="c3")(seq)
    model = keras.Model([inp, seq], [x, y])
    xs = [_x((9, 10, 3)), _x((12, 3))]
    for mode in ("channel", "spatial"):
        new, report = factorize_svd(model, energy=1.0, conv_mode=mode, only_if_smaller=False)
        diffs = [np.abs(a - b).max() for a, b in zip(new(xs), model(xs))]
        assert max(diffs) < 1e-4
    assert "c3" in report["skipped"]  # spatial mode needs Conv2D


def test_reduced_rank_error_is_bounded_by_discarded_energy():
    inp = keras.Input((24,))
    model = keras.Model(inp, keras.layers.Dense(16, name="d")(inp))
    x = _x((24,), n=4000)  # white inputs: E|x(W - W_r)|^2 / E|xW|^2 = discarded energy
    for rank in (2, 5, 8):
        new, report = factorize_svd(model, rank=rank)
        row = report["layers"][0]
        err = model(x).numpy() - new(x).numpy()
        rel = np.linalg.norm(err) / np.linalg.norm(model(x).numpy() - model.get_layer("d").bias.numpy())
        assert rel <= np.sqrt(row["discarded_energy"]) * 1.1 + 1e-6
        assert rel >= np.sqrt(row["discarded_energy"]) * 0.9  # and it is not trivially small


def test_parameter_count_drops_as_expected():
    model = build_mlp((40,), 10, units=(64, 64))
    new, report = factorize_svd(model, rank=4)
    # dense0 40x64 -> 4*(40+64); dense1 64x64 -> 4*128; logits 64x10 -> 4*74; biases unchanged
    expected = 4 * (40 + 64) + 64 + 4 * 128 + 64 + 4 * 74 + 10
    assert new.count_params() == expected == report["params_after"]
    assert report["params_before"] == model.count_params() == 40 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert report["compression"] == pytest.approx(report["params_before"] / expected, rel=1e-3)
    json.dumps(report)


def test_energy_rule_picks_rank_from_the_spectrum():
    inp = keras.Input((20,))
    model = keras.Model(inp, keras.layers.Dense(30, use_bias=False, name="d")(inp))
    u, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(20, 20)))
    v, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(30, 20)))
    s = np.sqrt([50.0, 30.0, 10.0, 5.0] + [5.0 / 16] * 16)  # energies 50, 30, 10, 5, then 5 spread: total 100
    model.get_layer("d").set_weights([(u * s) @ v.T])
    for energy, rank in ((0.5, 1), (0.8, 2), (0.85, 3), (0.9, 3), (0.95, 4)):
        _, report = factorize_svd(model, energy=energy)
        row = report["layers"][0]
        assert row["rank"] == rank, energy
        assert row["kept_energy"] >= energy - 1e-6
    _, report = factorize_svd(model, energy=0.999)
    assert report["factorized"] == [] and "no saving" in report["skipped"]["d"]


def test_layers_that_would_not_save_are_left_alone_and_reported():
    model = build_mlp((6,), 3, units=(4,))  # tiny layers: no rank saves anything
    x = _x((6,))
    new, report = factorize_svd(model, energy=1.0)
    assert report["factorized"] == []
    assert set(report["skipped"]) == {"dense0", "logits"}
    assert all(reason.startswith("no saving") for reason in report["skipped"].values())
    assert new.count_params() == model.count_params()
    assert _max_diff(model, new, x) == 0.0


def test_unsupported_layers_and_explicit_layer_list():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, name="dw")(inp)
    x = keras.layers.Conv2D(16, 3, name="conv")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(10, name="head")(x)
    model = keras.Model(inp, out)
    new, report = factorize_svd(model, rank=2, layers=["conv"])
    assert report["factorized"] == ["conv"] and "head" not in report["skipped"]
    _, report = factorize_svd(model, rank=2)
    assert "not supported" in report["skipped"]["dw"] and set(report["factorized"]) == {"conv", "head"}
    with pytest.raises(ConfigError, match="nope"):
        factorize_svd(model, layers=["nope"])
    with pytest.raises(ConfigError, match="cannot be factorized"):
        factorize_svd(model, rank={"dw": 2})


def test_target_parameter_count_is_met():
    model = build_mlp((32,), 10, units=(64, 64))
    total = model.count_params()
    for target in (0.5, 0.25, 2000):
        new, report = factorize_svd(model, target=target)
        budget = target if isinstance(target, int) else int(target * total)
        assert new.count_params() <= budget
        assert new.count_params() > 0.6 * budget  # uses the budget, not rank 1 everywhere
    with pytest.raises(BudgetError, match="smallest reachable"):
        factorize_svd(model, target=50)


def test_target_spends_the_cut_where_it_costs_least_energy():
    inp = keras.Input((64,))
    x = keras.layers.Dense(256, activation="relu", name="big")(inp)
    x = keras.layers.Dense(8, activation="relu", name="small")(x)
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(x))
    new, report = factorize_svd(model, target=0.5)
    assert report["factorized"] == ["big"]
    assert report["skipped"]["small"].startswith("kept whole") and report["skipped"]["out"].startswith("kept whole")
    assert new.count_params() <= 0.5 * model.count_params()
    rank = report["layers"][0]["rank"]
    assert new.count_params() + (64 + 256) > 0.5 * model.count_params()  # one more component would not fit
    assert rank == (int(0.5 * model.count_params()) - (model.count_params() - 64 * 256 - 256) - 256) // 320


def test_rank_dict_and_dag_with_shared_layer():
    a, b = keras.Input((12,), name="a"), keras.Input((12,), name="b")
    shared = keras.layers.Dense(24, activation="relu", name="shared")
    x = keras.layers.Concatenate()([shared(a), shared(b)])
    x = keras.layers.Dense(24, activation="tanh", name="mix")(x)
    out = keras.layers.Add()([x, shared(b)])
    model = keras.Model([a, b], [out, x])
    new, report = factorize_svd(model, rank={"shared": 12, "mix": 48}, only_if_smaller=False)
    xs = [_x((12,)), _x((12,), n=16) + 1.0]
    assert all(np.abs(p - q).max() < 1e-4 for p, q in zip(new(xs), model(xs)))
    rows = {r["name"]: r for r in report["layers"]}
    assert rows["mix"]["rank"] == 24 and "clipped" in rows["mix"]["note"]
    assert sum(layer.name.startswith("shared") for layer in new.layers) == 2  # one pair, reused 3 times


def test_original_model_is_untouched_and_independent():
    model = build_mlp((10,), 4, units=(16,))
    before = [w.copy() for w in model.get_weights()]
    new, _ = factorize_svd(model, rank=2)
    for w in new.weights:
        w.assign(tf.zeros_like(w))
    for old, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, now)


def test_nested_model_is_kept_and_result_saves_and_loads(tmp_path):
    inner_in = keras.Input((16,))
    inner = keras.Model(inner_in, keras.layers.Dense(32, name="inner_d")(inner_in), name="inner")
    inp = keras.Input((16,))
    x = keras.layers.Dense(24, activation="relu", name="d1")(inner(inp))
    model = keras.Model(inp, keras.layers.Dense(4, name="out")(x))
    new, report = factorize_svd(model, rank=3)
    assert report["factorized"] == ["d1", "out"] and "nested model" in report["skipped"]["inner"]
    path = str(tmp_path / "factorized.keras")
    new.save(path)
    back = keras.models.load_model(path)
    x = _x((16,))
    assert back.count_params() == new.count_params() and _max_diff(back, new, x) == 0.0


def test_sequential_models_work_and_subclassed_are_refused():
    seq = keras.Sequential([keras.Input((10,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(3)])
    new, report = factorize_svd(seq, energy=1.0, only_if_smaller=False)
    assert _max_diff(seq, new, _x((10,))) < 1e-4 and len(report["factorized"]) == 2

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(3)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(_x((4,)))
    with pytest.raises(ModelError, match="functional graph"):
        factorize_svd(sub)


@pytest.mark.parametrize("kwargs,match", [({"energy": 0.9, "rank": 3}, "one of"), ({"energy": 2.0}, "energy"),
                                          ({"target": 1.5}, "target"), ({"rank": 0}, "rank"),
                                          ({"conv_mode": "diagonal"}, "conv_mode")])
def test_bad_options_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        factorize_svd(build_mlp((4,), 2, units=(8,)), **kwargs)
