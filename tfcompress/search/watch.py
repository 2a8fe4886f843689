"""The chief's watch over the workers of a distributed search: heartbeats, and the hand-over of a dead worker's trial.

KerasTuner 1.4.8 keeps the running trial of a worker under that worker's id until the same id asks again, and its
chief waits until every running trial has ended; a worker killed and not restarted would keep the search waiting
for ever. A worker (``search/cluster.py``'s ``WorkerTuner``) therefore runs a ``Heartbeat`` while it trains, and
the chief's ``TrialWatch`` gives a trial not heard of for ``TFCOMPRESS_WORKER_TIMEOUT`` seconds to the next worker
that asks for one; a worker that finds nothing new to run while trials are running waits (KerasTuner's IDLE
answer) instead of leaving, so that it can take one over.
"""

import os
import threading
import time

from tfcompress import _compat
from tfcompress.errors import ConfigError

WORKER_TIMEOUT_ENV = "TFCOMPRESS_WORKER_TIMEOUT"
DEFAULT_WORKER_TIMEOUT = 120.0
#: Seconds between a training worker's heartbeats, and the shortest worker timeout allowed.
HEARTBEAT_S = 2.0
MIN_WORKER_TIMEOUT = 10.0
#: Seconds the chief holds a worker that has nothing to run while other trials are still running.
IDLE_WAIT_S = 1.0


class Heartbeat:
    """A worker's thread that tells the chief, every ``HEARTBEAT_S`` seconds, that its trial is still running."""

    def __init__(self, oracle, trial_id):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(oracle, trial_id), daemon=True)
        self._thread.start()

    def _run(self, oracle, trial_id):
        while not self._stop.wait(HEARTBEAT_S):
            try:
                oracle.get_trial(trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is not an error; the chief judges silence
                pass

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_S + 1)


class TrialWatch:
    """The chief's view of its workers: when each running trial was last heard of (its start, each heartbeat),
    and the hand-over of a silent worker's trial (see the module docstring). Wraps the oracle's ``create_trial``
    and ``get_trial`` until ``close``.

    Args:
        oracle: the chief's KerasTuner oracle.
        timeout: seconds of silence after which a worker counts as dead.
        log: function taking one line.
    """

    def __init__(self, oracle, timeout, log):
        from keras_tuner.engine import trial as trial_module

        self.oracle, self.timeout, self.log = oracle, float(timeout), log
        self.status = trial_module.TrialStatus
        self._idle = lambda: trial_module.Trial(oracle.get_space(), trial_id="idle",
                                                status=trial_module.TrialStatus.IDLE)
        self.seen = {}
        self._create, self._get = oracle.create_trial, oracle.get_trial
        oracle.create_trial, oracle.get_trial = self.create_trial, self.get_trial

    def close(self):
        self.oracle.create_trial, self.oracle.get_trial = self._create, self._get

    def get_trial(self, trial_id):
        self.seen[trial_id] = time.monotonic()
        return self._get(trial_id)

    def create_trial(self, tuner_id):
        now = time.monotonic()
        ongoing = _compat.ongoing_trials(self.oracle)
        if tuner_id not in ongoing:
            for other, trial in ongoing.items():
                silent = now - self.seen.setdefault(trial.trial_id, now)
                if silent > self.timeout:
                    self.seen[trial.trial_id] = now
                    self.log(f"trial {trial.trial_id} of {other}: no word for {silent:.0f} s; given to {tuner_id}")
                    return _compat.hand_over_trial(self.oracle, other, tuner_id)
        trial = self._create(tuner_id)
        if trial.status == self.status.RUNNING:
            self.seen[trial.trial_id] = now
        elif trial.status == self.status.STOPPED and any(t != tuner_id for t in ongoing):
            _compat.keep_tuner(self.oracle, tuner_id)  # nothing new, but a running trial may need a worker
            time.sleep(IDLE_WAIT_S)
            return self._idle()
        return trial


def worker_timeout():
    """Seconds of silence after which the chief gives a worker's trial to another (``TFCOMPRESS_WORKER_TIMEOUT``)."""
    raw = os.environ.get(WORKER_TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_WORKER_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or value < MIN_WORKER_TIMEOUT:
        raise ConfigError(f"{WORKER_TIMEOUT_ENV} must be a number of seconds >= {MIN_WORKER_TIMEOUT:g} (workers send "
                          f"a heartbeat every {HEARTBEAT_S:g} s), received {raw!r}.")
    return value


__all__ = ["Heartbeat", "TrialWatch", "worker_timeout", "WORKER_TIMEOUT_ENV", "HEARTBEAT_S"]
