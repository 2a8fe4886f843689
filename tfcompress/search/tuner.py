"""The KerasTuner tuner whose trials distill a candidate student and measure it.

KerasTuner's ``Tuner`` refuses ``tf_keras`` models, so ``StudentTuner``
subclasses ``BaseTuner`` (its "tune anything" pattern): ``run_trial`` builds
the candidate itself, rejects it without training if it breaks the budget
(``FailedTrialError``), distills it briefly through the ``Trainer``, and
returns a dict of metrics.  The oracle (random, Bayesian, Hyperband) decides
what to try and keeps the resumable state on disk.
"""

import copy
import json
import math
import os
import time
import traceback

import keras_tuner
import numpy as np
from keras_tuner.engine import base_tuner

from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ConversionError
from tfcompress.fileio import atomic_path, atomic_write
from tfcompress.progress import format_seconds
from tfcompress.search.fit import fit_candidate
from tfcompress.search.measure import measure_candidate
from tfcompress.search.spaces import check_student

OBJECTIVE = "score"
ORACLES = ("random", "bayesian", "hyperband")
REWARDS = (None, "accuracy", "mnas")
MNAS_W = -0.07
CANDIDATE_FILE = "candidate.json"
#: Inputs that calibrate each trial's int8 conversions (a seeded subset, ``tfcompress.data.calibration_inputs``).
CALIBRATION_SAMPLES = 64
WEIGHTS_FILE = "student.weights.h5"
REJECTED_PREFIX = "rejected by the budget: "


#: Candidates drawn per trained trial at most. A rejection costs one conversion; under a byte budget with a
#: floor (``min_fill``) about four draws in five were rejected on digits, so 5 per trial left 11-16 of 16 trials.
CANDIDATES_PER_TRIAL = 10


def make_oracle(oracle, max_trials, epochs, seed):
    """A KerasTuner oracle maximising ``score`` over ``max_trials`` trained trials.

    Candidates rejected by the budget are failed trials that cost one conversion, not a training
    run, so they do not count towards ``max_trials`` (at most ``10 * max_trials`` candidates are
    drawn in all), and the limit on consecutive failures is lifted (the search itself checks that
    some trial trained). Hyperband runs up to ``epochs`` epochs per trial.
    """
    objective = keras_tuner.Objective(OBJECTIVE, direction="max")
    common = dict(objective=objective, seed=seed, max_consecutive_failed_trials=10 ** 9)
    if oracle == "random":
        out = _RandomOracle(max_trials=max_trials, **common)
    elif oracle == "bayesian":
        out = _BayesianOracle(max_trials=max_trials, **common)
    elif oracle == "hyperband":
        out = _HyperbandOracle(max_epochs=max(int(epochs), 2), factor=3, **common)
    else:
        raise ConfigError(f"unknown oracle {oracle!r}; valid oracles: {', '.join(ORACLES)}.")
    out.trained_trials = int(max_trials)
    out.max_trials = CANDIDATES_PER_TRIAL * int(max_trials)
    return out


class _RejectionsAreFree:
    """Oracle mixin: a candidate rejected by the budget gives its place to another one.

    ``max_trials`` stays at the number of candidates allowed (so trial ids keep one width); the
    search stops once ``trained_trials`` trials that were not rejected have been started.
    """

    def save(self):
        """Write ``oracle.json`` atomically (KerasTuner truncates and rewrites it: a kill there left it empty)."""
        atomic_write(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        atomic_write(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"), json.dumps(trial.get_state()))

    def reload(self):
        """Reload, but do not run again trials that had finished when the process was killed.

        KerasTuner 1.4.8's ``end_trial`` writes ``trial.json`` and ``oracle.json`` before it removes the trial from
        ``ongoing_trials``, so a kill after a trial ended leaves it "ongoing" in ``oracle.json`` and ``reload``
        queues it for a retry: a finished trial would be trained again.  ``trial.json`` is written first, so
        its status is the truth.
        """
        super().reload()
        ended = (keras_tuner.engine.trial.TrialStatus.COMPLETED, keras_tuner.engine.trial.TrialStatus.FAILED)
        self._retry_queue = [t for t in self._retry_queue
                             if t not in self.trials or self.trials[t].status not in ended]

    #: ``time.time()`` after which no trial starts that would not end in time (``search_student(max_seconds=)``)
    deadline = None

    def populate_space(self, trial_id):
        placed = sum(not is_rejected(self._project_dir, t) for t in self.trials.values())
        if placed >= self.trained_trials or (placed and self._out_of_time()):
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)

    def _out_of_time(self):
        if self.deadline is None:
            return False
        durations = sorted(getattr(self, "trial_seconds", []))
        expected = durations[len(durations) // 2] if durations else 0.0
        return time.time() + expected > self.deadline


class _RandomOracle(_RejectionsAreFree, keras_tuner.oracles.RandomSearchOracle):
    pass


class _BayesianOracle(_RejectionsAreFree, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class _HyperbandOracle(_RejectionsAreFree, keras_tuner.oracles.HyperbandOracle):
    pass


def is_rejected(project_dir, trial):
    """Whether a trial is a candidate the budget rejected (its message or its record says so).

    In distributed tuning the message does not travel over gRPC; the record file in the (shared)
    tuner folder does.
    """
    if trial.status != keras_tuner.engine.trial.TrialStatus.FAILED:
        return False
    if REJECTED_PREFIX in (trial.message or ""):
        return True
    return "rejected" in read_record(project_dir, trial.trial_id)


def read_record(project_dir, trial_id):
    """What ``run_trial`` recorded for a trial (empty dict if nothing)."""
    path = os.path.join(project_dir, f"trial_{trial_id}", CANDIDATE_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        return json.load(fh)


def mnas_reward(accuracy, size, target, w=MNAS_W):
    """MnasNet's soft-constrained reward ``accuracy * (size / target) ** w``."""
    return float(accuracy) * (float(size) / float(target)) ** w


class StudentTuner(base_tuner.BaseTuner):
    """Runs each trial as: build, measure against the budget, distill briefly, evaluate.

    Args:
        oracle: a KerasTuner oracle (see ``make_oracle``).
        hypermodel: a KerasTuner ``HyperModel`` building ``tf_keras`` students.
        trainer: a ``tfcompress.Trainer`` (with the teacher, trials are distilled).
        budget: a ``Budget``.
        epochs: training epochs per trial (Hyperband sets its own).
        reward: None/"accuracy" (score = val accuracy) or "mnas". Defaults to None.
        seed: seed of each trial's weight initialisation. Defaults to 0.
        directory, project_name, overwrite: as in KerasTuner.
    """

    def __init__(self, oracle, hypermodel, trainer, budget, epochs, reward=None, seed=0, directory=None,
                 project_name="student_search", overwrite=False):
        # trials report one line each (on_trial_end), not one per epoch
        self.progress, self.label = getattr(trainer, "progress", None), getattr(trainer, "label", "search")
        self.trainer = copy.copy(trainer)
        self.trainer.progress = None
        self.budget = budget
        self.epochs = int(epochs)
        self.reward = reward
        self.seed = int(seed or 0)
        self.ran_trial_ids = []
        super().__init__(oracle=oracle, hypermodel=hypermodel, directory=directory, project_name=project_name,
                         overwrite=overwrite)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.progress is None:
            return
        record = self.read_record(trial.trial_id)
        if "rejected" in record or "val_accuracy" not in record:
            return
        oracle = self.oracle
        trained = sum(not is_rejected(self.project_dir, t) for t in oracle.trials.values())
        # a trained trial costs its own time and that of the draws rejected before it (each a short trial)
        spent = sum(getattr(oracle, "trial_seconds", []))
        left = spent / max(1, trained) * max(0, oracle.trained_trials - trained)
        if getattr(oracle, "deadline", None) is not None:
            left = min(left, max(0.0, oracle.deadline - time.time()))
        family = record.get("values", {}).get("family") or self.hypermodel.name
        self.progress(f"{self.label}: trial {trained}/{oracle.trained_trials} ({family}, {record.get('params', 0):,} "
                      f"params, {record.get('int8_bytes', 0):,} B): int8 val accuracy {record['val_accuracy']:.4f}, "
                      f"{format_seconds(record.get('train_seconds', 0))} training"
                      + (f", ~{format_seconds(left)} left" if left >= 1 else ""))

    def save(self):
        """Save the oracle and ``tuner0.json`` atomically (a killed search must leave readable state)."""
        if not self._is_worker():
            self.oracle.save()
        atomic_write(self._get_tuner_fname(), json.dumps(self.get_state()))

    def representative(self):
        from tfcompress.data import calibration_inputs

        return calibration_inputs(self.trainer.source, CALIBRATION_SAMPLES)

    def run_trial(self, trial, *args, **kwargs):
        started = time.time()
        try:
            return self._run_trial(trial)
        finally:  # what a trial costs, for the oracle's time limit
            self.oracle.trial_seconds = getattr(self.oracle, "trial_seconds", []) + [time.time() - started]

    def _run_trial(self, trial):
        hp = trial.hyperparameters
        self.ran_trial_ids.append(trial.trial_id)
        record = {"trial_id": trial.trial_id, "tuner_id": self.tuner_id}
        model = self._candidate(trial, record)
        initial_epoch = int(hp.values.get("tuner/initial_epoch", 0))
        epochs = int(hp.values.get("tuner/epochs", self.epochs)) - initial_epoch
        parent = hp.values.get("tuner/trial_id")
        if parent is not None:  # Hyperband continues a previous trial's training
            path = os.path.join(self.get_trial_dir(parent), WEIGHTS_FILE)
            if os.path.exists(path):
                model.load_weights(path)
            else:
                epochs += initial_epoch
        start = time.perf_counter()
        self.trainer.fit(model, epochs)
        record["train_seconds"] = time.perf_counter() - start
        record["epochs"] = epochs
        self._check_trained(model, record)
        record["score"] = self._score(record["val_accuracy"], record)
        self._save_weights(model, trial.trial_id)
        self._write_record(trial.trial_id, record)
        keras.backend.clear_session()
        return {key: float(record[key]) for key in
                ("score", "val_accuracy", "params", "int8_bytes", "arena_bytes", "latency_us", "train_seconds")
                if key in record}

    def _candidate(self, trial, record):
        """Build the trial's candidate and measure it against the budget before training (Rejected if over).

        A space that fits its width (``tfcompress.search.families``) gets the widest candidate of the drawn
        structure that fits, fewer blocks if none does (``fit_candidate``); the values it chose replace the
        drawn ones in the trial's hyperparameters, so the best trial rebuilds as it was trained.
        """
        hp = trial.hyperparameters
        seed = self.seed + _trial_number(trial.trial_id)
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        fitted = getattr(self.hypermodel, "fit_width", False) and "tuner/trial_id" not in hp.values
        if fitted:
            try:
                fit, values, draws = fit_candidate(self.hypermodel, self.oracle.get_space(), hp.values,
                                                   self.budget, self.representative(),
                                                   min_fill=getattr(self.budget, "min_fill", None))
            except ConversionError as exc:  # e.g. TFLite Micro cannot run it (a budget with max_arena_bytes)
                self._reject(trial, record, str(exc).splitlines()[0][:300])
            hp.values.clear()
            hp.values.update(values)
            measured, violations = fit.measured, fit.violations
            record.update(fit.record(), draws=draws, values=values)
            keras.backend.clear_session()
            keras.utils.set_random_seed(seed)  # the fit built several models: initialise this one afresh
        model = check_student(self.hypermodel.build(hp))
        if not fitted:
            try:
                measured, violations = measure_candidate(model, self.representative(), self.budget)
            except ConversionError as exc:
                self._reject(trial, record, str(exc).splitlines()[0][:300])
        record.update(measured)
        if violations:
            self._reject(trial, record, "; ".join(violations))
        return model

    def _reject(self, trial, record, reason):
        """Record why the candidate is not trained and give the trial up (a draw, not a failure)."""
        record["rejected"] = reason
        self._write_record(trial.trial_id, record)
        raise Rejected(REJECTED_PREFIX + reason)

    def _check_trained(self, model, record):
        """Fail the trial (only it) unless the trained student is finite, converts to int8 within the budget and
        scores a finite accuracy; the int8 file's validation accuracy is the trial's accuracy."""
        from tfcompress import export

        bad = [w.name for w in model.weights if not np.all(np.isfinite(w.numpy()))]
        if bad:
            raise keras_tuner.errors.FailedTrialError(f"the trained weights are not finite ({bad[0]}); the "
                                                      "training diverged. Lower the learning rate.")
        try:
            tflite = export.convert(model, "int8", representative_data=self.representative())
        except Exception as exc:  # noqa: BLE001 - any conversion failure fails this trial alone
            raise keras_tuner.errors.FailedTrialError(f"the trained student does not convert to int8: "
                                                      f"{str(exc).splitlines()[0][:300]}") from None
        record["int8_bytes"] = len(tflite)
        over = self.budget.ceiling().violations(record)
        if over:
            raise keras_tuner.errors.FailedTrialError(f"over budget after training: {'; '.join(over)}")
        record["val_accuracy_float"] = float(self.trainer.evaluate(model))
        record["val_accuracy"] = self.trainer.split("val").tflite_accuracy(tflite)
        if not all(math.isfinite(record[k]) for k in ("val_accuracy", "val_accuracy_float")):
            raise keras_tuner.errors.FailedTrialError(f"validation accuracy is {record['val_accuracy']}")

    def _try_run_and_update_trial(self, trial, *args, **kwargs):
        # As BaseTuner's, but a budget rejection is a plain FAILED trial without a printed traceback.
        try:
            self._run_and_update_trial(trial, *args, **kwargs)
            trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
        except Rejected as exc:
            trial.status = keras_tuner.engine.trial.TrialStatus.FAILED
            trial.message = str(exc)
        except keras_tuner.errors.FatalError:
            raise
        except Exception as exc:
            failed = isinstance(exc, keras_tuner.errors.FailedTrialError)
            trial.status = keras_tuner.engine.trial.TrialStatus.FAILED if failed else \
                keras_tuner.engine.trial.TrialStatus.INVALID
            trial.message = traceback.format_exc()
            if self.trainer.verbose:
                print(trial.message)

    def _score(self, accuracy, measured):
        if self.reward != "mnas":
            return accuracy
        if self.budget.max_bytes:
            return mnas_reward(accuracy, measured["int8_bytes"], self.budget.max_bytes)
        return mnas_reward(accuracy, measured["latency_us"], self.budget.max_latency_us)

    def _save_weights(self, model, trial_id):
        folder = self.get_trial_dir(trial_id)
        with atomic_path(os.path.join(folder, WEIGHTS_FILE), suffix=".weights.h5") as tmp:
            model.save_weights(tmp)

    def _write_record(self, trial_id, record):
        write_json_atomic(os.path.join(self.get_trial_dir(trial_id), CANDIDATE_FILE), record)

    def read_record(self, trial_id):
        """What ``run_trial`` recorded for a trial (empty dict if nothing)."""
        return read_record(self.project_dir, trial_id)

    def weights_path(self, trial_id):
        path = os.path.join(self.project_dir, f"trial_{trial_id}", WEIGHTS_FILE)
        return path if os.path.exists(path) else None

    # KerasTuner's model saving goes through Keras 3; our weights are saved in run_trial.
    def save_model(self, trial_id, model, step=0):
        pass

    def load_model(self, trial):
        raise NotImplementedError("rebuild the student from get_best_hyperparameters(); see SearchResult.")


class Rejected(keras_tuner.errors.FailedTrialError):
    """A candidate broke the budget before training (a failed trial, not a crash)."""


def _trial_number(trial_id):
    try:
        return int(trial_id)
    except (TypeError, ValueError):
        return 0


def write_json_atomic(path, obj):
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write(path, json.dumps(obj, indent=2, default=_jsonable))


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "get_config"):
        return value.get_config()
    return str(value)


__all__ = ["StudentTuner", "make_oracle", "is_rejected", "read_record", "mnas_reward", "write_json_atomic",
           "ORACLES", "REWARDS"]
