"""A search killed just after a trial ended does not train that trial again (KerasTuner 1.4.8 saves it as ongoing)."""

import json

import keras_tuner

from tfcompress.search.tuner import OBJECTIVE, make_oracle


def _oracle(folder):
    oracle = make_oracle("random", max_trials=3, epochs=1, seed=0)
    oracle.hyperparameters.Int("units", 1, 64)
    oracle._set_project_dir(str(folder), "search")
    return oracle


def test_a_trial_saved_as_ongoing_but_completed_is_not_retried(tmp_path):
    oracle = _oracle(tmp_path)
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {OBJECTIVE: 0.5})
    trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
    oracle.end_trial(trial)
    running = oracle.create_trial("tuner0")  # killed while this one trains
    # what a kill between end_trial's save and its removal from ongoing_trials leaves on disk
    path = tmp_path / "search" / "oracle.json"
    state = json.loads(path.read_text())
    state["ongoing_trials"] = {"tuner0": trial.trial_id, "tuner1": running.trial_id}
    path.write_text(json.dumps(state))

    resumed = _oracle(tmp_path)
    resumed.reload()
    assert resumed.trials[trial.trial_id].status == "COMPLETED"
    assert resumed._retry_queue == [running.trial_id]  # only the unfinished trial runs again
