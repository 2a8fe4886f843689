"""Unit checks of ``tfcompress.pipeline.devices``: strategy names, TF_CONFIG, the chief, batch scaling and the
mixed-precision policy (applied while a stage runs, reset after the run and after an error)."""

import json

import pytest

from tfcompress import keras, load_digits_data
from tfcompress.errors import ConfigError
from tfcompress.pipeline import Pipeline, parse_recipe
from tfcompress.pipeline import devices
from tfcompress.stage import Stage

WORKERS = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


def _tf_config(cluster=WORKERS, kind="worker", index=0):
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})}


def test_unknown_strategy_is_one_line_config_error():
    with pytest.raises(ConfigError, match="unknown strategy 'mirror'.*mirrored, multi_worker") as info:
        devices.make_strategy("mirror")
    assert "\n" not in str(info.value)
    assert devices.make_strategy(None) is None


@pytest.mark.parametrize("environ, match", [
    ({}, "needs the TF_CONFIG environment variable"),
    ({"TF_CONFIG": "{not json"}, "not valid JSON"),
    ({"TF_CONFIG": json.dumps({"task": {"type": "worker", "index": 0}})}, "needs a 'cluster'"),
    (_tf_config(index=2), "is not a chief or worker of its cluster"),
    (_tf_config(kind="ps"), "is not a chief or worker"),
    (_tf_config(cluster={"worker": "127.0.0.1:1"}), "must be a list"),
])
def test_bad_tf_config(environ, match):
    with pytest.raises(ConfigError, match=match) as info:
        devices.read_tf_config(environ)
    assert "\n" not in str(info.value)


def test_multi_worker_without_tf_config_fails_before_any_work(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    pipeline = Pipeline([{"export": {}}], teacher=str(tmp_path / "missing.keras"), strategy="multi_worker")
    with pytest.raises(ConfigError, match="TF_CONFIG"):  # not the missing teacher: checked first
        pipeline.run({}, tmp_path / "out", verbose=0)
    assert not (tmp_path / "out").exists()


def test_chief():
    assert devices.is_chief(json.loads(_tf_config(index=0)["TF_CONFIG"]))
    assert not devices.is_chief(json.loads(_tf_config(index=1)["TF_CONFIG"]))
    with_chief = {"chief": ["127.0.0.1:3"], **WORKERS}
    assert devices.is_chief(json.loads(_tf_config(with_chief, "chief")["TF_CONFIG"]))
    assert not devices.is_chief(json.loads(_tf_config(with_chief, "worker", 0)["TF_CONFIG"]))


class _Replicas:
    def __init__(self, n):
        self.num_replicas_in_sync = n


def test_global_batch_is_per_replica_times_replicas():
    assert devices.global_batch_size(32, _Replicas(4)) == 128
    assert devices.global_batch_size(None, _Replicas(4)) is None
    assert devices.global_batch_size(32) == 32  # outside any strategy scope: one replica
    d = devices.Devices("mirrored", _Replicas(3), batch_size=16)
    assert d.report()["replicas"] == 3 and d.report()["global_batch_size"] == 48

    from tfcompress.train import Trainer

    trainer = d.adapt(Trainer(load_digits_data(), batch_size=16))
    assert trainer.batch_size == 48 and len(trainer.progress_callbacks()) == 1


def test_recipe_strategy_keys():
    recipe = parse_recipe("strategy: mirrored\nmixed_precision: true\nstages:\n  - export: {}\n", require_paths=False)
    pipeline = Pipeline.from_config(recipe)
    assert pipeline.strategy == "mirrored" and pipeline.mixed_precision is True
    assert pipeline.get_config()["strategy"] == "mirrored"
    assert "strategy" not in Pipeline([{"export": {}}]).get_config()  # default: none, as before
    with pytest.raises(ConfigError, match=r"line 1: .*unknown strategy 'gpu'"):
        parse_recipe("strategy: gpu\nstages:\n  - export: {}\n", require_paths=False)
    with pytest.raises(ConfigError, match="line 1: mixed_precision must be true or false"):
        parse_recipe("mixed_precision: maybe\nstages:\n  - export: {}\n", require_paths=False)


def test_mixed_precision_needs_a_gpu():
    with pytest.raises(ConfigError, match="mixed_float16 needs a GPU") as info:
        devices.check_mixed_precision(has_gpu=False, environ={})
    assert "\n" not in str(info.value)
    devices.check_mixed_precision(has_gpu=True, environ={})
    devices.check_mixed_precision(has_gpu=False, environ={devices.FORCE_MIXED_PRECISION: "1"})


def test_policy_reset_after_an_error():
    before = keras.mixed_precision.global_policy().name
    with pytest.raises(RuntimeError):
        with devices.mixed_precision_policy():
            assert keras.mixed_precision.global_policy().name == "mixed_float16"
            raise RuntimeError("boom")
    assert keras.mixed_precision.global_policy().name == before


class _Spy(Stage):
    """Records the global policy and the model's layer policies while it runs; may fail."""
    name = "spy"
    judged = False

    def __init__(self, fail=False):
        self.fail, self.seen = fail, []

    def apply(self, model, trainer):
        self.seen.append((keras.mixed_precision.global_policy().name,
                          [layer.dtype_policy.name for layer in model.layers[1:]]))
        if self.fail:
            raise RuntimeError("stage failed")
        return model

    def get_config(self):
        return {}


def _mlp_run(tmp_path, monkeypatch, stage):
    import numpy as np

    from tfcompress import build_mlp, make_tabular_data

    monkeypatch.setenv(devices.FORCE_MIXED_PRECISION, "1")
    data = make_tabular_data(n_samples=200, n_features=8, n_classes=3)
    teacher = build_mlp((8,), 3, units=(8,), name="teacher")
    pipeline = Pipeline([stage, {"export": {"format": "int8"}}], teacher=teacher, latency_runs=0,
                        mixed_precision=True)
    return pipeline.run({k: np.asarray(v) for k, v in data.items()}, tmp_path / "out", verbose=0)


def test_mixed_precision_applied_in_a_stage_and_reset_after_the_run(tmp_path, monkeypatch):
    spy = _Spy()
    report = _mlp_run(tmp_path, monkeypatch, spy)
    policy, layers = spy.seen[0]
    assert policy == "mixed_float16"
    assert layers[:-1] and set(layers[:-1]) == {"mixed_float16"} and layers[-1] == "float32"  # float32 outputs
    assert keras.mixed_precision.global_policy().name == "float32"
    assert report["devices"]["mixed_precision"] is True
    assert (tmp_path / "out" / "model.tflite").stat().st_size > 0
    assert report["summary"]["final_format"] == "int8"


def test_mixed_precision_reset_after_a_failing_stage(tmp_path, monkeypatch):
    spy = _Spy(fail=True)
    with pytest.raises(RuntimeError, match="stage failed"):
        _mlp_run(tmp_path, monkeypatch, spy)
    assert spy.seen[0][0] == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_float32_copy_keeps_weights():
    from tfcompress import build_mlp

    model = build_mlp((4,), 3, units=(8,))
    assert devices.float32_copy(model) is model  # already float32: no copy
    mixed = devices.policy_copy(model, "mixed_float16")
    assert mixed.layers[-2].dtype_policy.name == "mixed_float16"
    back = devices.float32_copy(mixed)
    assert {layer.dtype_policy.name for layer in back.layers} == {"float32"}
    assert all((a == b).all() for a, b in zip(back.get_weights(), model.get_weights()))
