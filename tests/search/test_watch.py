"""The chief's watch over its workers: a silent worker's trial goes to the next worker; idle workers wait."""

import pytest

from tfcompress import _compat
from tfcompress.errors import ConfigError
from tfcompress.search import watch


def _oracle(tmp_path, max_trials):
    import keras_tuner

    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("score", "max"),
                                                    max_trials=max_trials, seed=0)
    hp = keras_tuner.HyperParameters()
    hp.Int("width", 1, 64)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.update_space(hp)
    return oracle


def test_the_chief_gives_a_silent_workers_trial_to_the_next_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "IDLE_WAIT_S", 0.0)
    oracle, lines = _oracle(tmp_path, max_trials=2), []
    trials = watch.TrialWatch(oracle, timeout=30, log=lines.append)
    first = oracle.create_trial("tuner0")
    second = oracle.create_trial("tuner1")
    assert first.trial_id != second.trial_id and lines == []
    trials.seen[first.trial_id] -= 10  # tuner0 spoke 10 s ago: alive
    oracle.get_trial(second.trial_id)  # tuner1's heartbeat
    assert oracle.create_trial("tuner1") is second  # its own trial, as KerasTuner does
    oracle.end_trial(second)  # tuner1 done; no trial left to create, but tuner0's is still running
    assert oracle.create_trial("tuner1").status == "IDLE" and "tuner1" in oracle.tuner_ids
    trials.seen[first.trial_id] -= 60  # tuner0 silent for 70 s: dead
    taken = oracle.create_trial("tuner1")
    assert taken is first and lines == [f"trial {first.trial_id} of tuner0: no word for 70 s; given to tuner1"]
    assert _compat.ongoing_trials(oracle) == {"tuner1": first}
    oracle.end_trial(first)
    assert oracle.create_trial("tuner1").status == "STOPPED"  # nothing running, nothing left: the search ends
    trials.close()
    assert oracle.create_trial.__self__ is oracle  # the oracle's own methods are back


def test_worker_timeout_variable(monkeypatch):
    monkeypatch.delenv(watch.WORKER_TIMEOUT_ENV, raising=False)
    assert watch.worker_timeout() == watch.DEFAULT_WORKER_TIMEOUT
    monkeypatch.setenv(watch.WORKER_TIMEOUT_ENV, "30")
    assert watch.worker_timeout() == 30.0
    for bad in ("2", "soon"):
        monkeypatch.setenv(watch.WORKER_TIMEOUT_ENV, bad)
        with pytest.raises(ConfigError, match="TFCOMPRESS_WORKER_TIMEOUT must be a number of seconds >= 10"):
            watch.worker_timeout()
