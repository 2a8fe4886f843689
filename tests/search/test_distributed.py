"""The search as KerasTuner distributed tuning: a chief oracle and two workers on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "dist_worker.py")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_share_trials(tmp_path):
    port = _free_port()
    procs, outs = [], {}
    for tuner_id in ("chief", "tuner0", "tuner1"):
        env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port),
                   KERASTUNER_TUNER_ID=tuner_id, MAX_TRIALS="4", TF_CPP_MIN_LOG_LEVEL="3")
        outs[tuner_id] = tmp_path / f"{tuner_id}.json"
        log = open(tmp_path / f"{tuner_id}.log", "w")
        procs.append((tuner_id, log, subprocess.Popen([sys.executable, SCRIPT, str(tmp_path / "tuner"),
                                                       str(outs[tuner_id])], env=env, stdout=log,
                                                      stderr=subprocess.STDOUT)))
    try:
        for tuner_id, log, proc in procs:
            code = proc.wait(timeout=600)
            log.close()
            assert code == 0, f"{tuner_id} exited with {code}:\n" + (tmp_path / f"{tuner_id}.log").read_text()[-3000:]
    finally:
        for _, _, proc in procs:
            if proc.poll() is None:
                proc.kill()
    chief = json.loads(outs["chief"].read_text())
    workers = [json.loads(outs[t].read_text()) for t in ("tuner0", "tuner1")]
    assert all(w["role"] == "worker" for w in workers) and chief["role"] == "chief"
    ids = [t["trial_id"] for t in chief["trials"]]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert all(t["status"] == "COMPLETED" for t in chief["trials"])
    ran = workers[0]["trial_ids"] + workers[1]["trial_ids"]
    assert sorted(ran) == sorted(ids)  # every trial ran once, on one of the workers, none twice
    assert {t["tuner_id"] for t in chief["trials"]} <= {"tuner0", "tuner1"}
    assert chief["best_trial_id"] in ids and 0.0 <= chief["best_val_accuracy"] <= 1.0
