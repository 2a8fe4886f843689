"""Search a student under a budget, each trial distilled from the teacher: ``search_student``.

The search is resumable (the tuner directory keeps every finished trial) and
runs unchanged as KerasTuner distributed tuning: with ``KERASTUNER_ORACLE_IP``,
``KERASTUNER_ORACLE_PORT`` and ``KERASTUNER_TUNER_ID`` set, the process whose
tuner id contains "chief" serves the oracle and returns the result once every
trial is done; the workers run trials and return None.
"""

import contextlib
import io
import os
import tempfile
import time

from tfcompress._keras import keras
from tfcompress.errors import BudgetError, ConfigError, TrainingError
from tfcompress.search.budget import Budget
from tfcompress.search.measure import measure_candidate
from tfcompress.search.pareto import pareto_front, trials_markdown
from tfcompress.search.spaces import as_hypermodel, build_with, make_space, shapes_of, smallest_values
from tfcompress.search.tuner import ORACLES, REJECTED_PREFIX, REWARDS, is_rejected, make_oracle

class SearchResult:
    """What a student search found.

    Attributes:
        best_hyperparameters: dict of the best trial's hyperparameter values.
        best_model: the best student, rebuilt, with its trial's weights, distilled ``final_epochs`` more.
        best_val_accuracy: validation accuracy of ``best_model``.
        trials: list of dicts, one per trial (status COMPLETED, REJECTED or FAILED, metrics, hyperparameters).
        pareto: the trials on the Pareto front of validation accuracy vs int8 bytes.
        rejected: number of candidates rejected by the budget without training.
        failed: number of trials that failed for another reason.
        budget: the ``Budget``.
        directory: the tuner's project folder.
        new_trial_ids: ids of the trials this call ran (a resumed search skips finished ones).
    """

    def __init__(self, best_hyperparameters, best_model, best_val_accuracy, best_trial_id, trials, budget,
                 directory, seconds, new_trial_ids=()):
        self.best_hyperparameters = best_hyperparameters
        self.best_model = best_model
        self.best_val_accuracy = best_val_accuracy
        self.best_trial_id = best_trial_id
        self.trials = trials
        self.pareto = pareto_front(trials)
        self.rejected = sum(t["status"] == "REJECTED" for t in trials)
        self.failed = sum(t["status"] == "FAILED" for t in trials)
        # candidates measured per trained trial: budget rejections (separate trials) plus the structures a
        # fitted space measured inside each trial
        trained = [t for t in trials if t["status"] in ("COMPLETED", "FAILED")]
        measured = self.rejected + sum(t.get("draws", 1) for t in trained)
        self.draws_per_trial = measured / len(trained) if trained else None
        self.budget = budget
        self.directory = directory
        self.seconds = seconds
        self.new_trial_ids = list(new_trial_ids)

    @property
    def completed(self):
        return [t for t in self.trials if t["status"] == "COMPLETED"]

    def markdown(self):
        """The trials table in Markdown (Pareto-front trials marked ``*``)."""
        return trials_markdown(self.trials, {t["trial_id"] for t in self.pareto})

    def to_dict(self):
        """JSON-able summary (without the model)."""
        return {"best_trial_id": self.best_trial_id, "best_hyperparameters": self.best_hyperparameters,
                "best_val_accuracy": self.best_val_accuracy, "budget": self.budget.get_config(),
                "trials": self.trials, "pareto": self.pareto, "rejected": self.rejected, "failed": self.failed,
                "completed": len(self.completed), "draws_per_trial": self.draws_per_trial,
                "seconds": self.seconds, "directory": self.directory,
                "new_trial_ids": self.new_trial_ids}


def search_student(trainer, teacher=None, family="auto", hypermodel=None, max_trials=8, epochs=4,
                   oracle="random", budget=None, final_epochs=0, reward=None, seed=0, directory=None,
                   project_name="student_search", overwrite=False, max_seconds=None):
    """Search the best student under ``budget``; every trial is distilled from the teacher.

    Args:
        trainer: a ``tfcompress.Trainer``; with a teacher, trials are distilled, else trained on labels.
        teacher: model giving the input shape and number of classes; None for ``trainer.teacher`` (or the
            data if there is no teacher). Defaults to None.
        family: "auto", "cnn", "mlp", "mobilenet" or "resnet" (ignored when ``hypermodel`` is given; see
            ``tfcompress.search.spaces.make_space``). The MobileNet and ResNet families fit each candidate's
            width to a size or latency budget instead of drawing it. Defaults to "auto".
        hypermodel: your own ``build(hp)`` function or ``keras_tuner.HyperModel`` returning ``tf_keras``
            students. Defaults to None.
        max_trials: trials to train; candidates rejected by the budget do not count (at most
            ``10 * max_trials`` candidates are drawn). Defaults to 8.
        epochs: distillation epochs per trial (Hyperband: the most epochs of a trial). Defaults to 4.
        oracle: "random", "bayesian" or "hyperband". Defaults to "random".
        budget: a ``Budget`` or its config dict; None for no bound. Defaults to None.
        final_epochs: further distillation epochs of the best student. Defaults to 0.
        reward: None (score = val accuracy) or "mnas" (``acc * (size/target)^-0.07``; target is
            ``budget.max_bytes``, else ``budget.max_latency_us``). Defaults to None.
        seed: seed of the oracle and of weight initialisation. Defaults to 0.
        directory: tuner folder; None for ``trainer.workdir`` or a new temporary folder. Defaults to None.
        project_name: subfolder of ``directory``. Defaults to "student_search".
        overwrite: start afresh instead of resuming trials found in the folder. Defaults to False.
        max_seconds: start no trial that would end (at the median trial's length) after this many seconds
            from the search's start; at least one trial runs. A resumed search gets the time afresh. None for
            no limit. Defaults to None.

    Returns:
        A ``SearchResult``; None in a distributed worker process.

    Raises:
        BudgetError: the smallest candidate of the space breaks the budget, or every trial was rejected.
        TrainingError: no trial completed for another reason.
    """
    budget = Budget.coerce(budget)
    _check_args(max_trials, epochs, oracle, reward, budget, final_epochs)
    start = time.perf_counter()
    if hypermodel is None:
        source = teacher if teacher is not None else trainer.teacher
        if source is not None:
            input_shape, num_classes = shapes_of(source)
        else:
            input_shape, num_classes = trainer.input_shape, trainer.num_classes
        hypermodel = make_space(family, input_shape, num_classes)
    hypermodel = as_hypermodel(hypermodel)
    if hasattr(hypermodel, "fit_width"):  # the width is fitted to a bounded budget, else drawn
        hypermodel.fit_width = not budget.is_unbounded
    if directory is None:
        directory = trainer.workdir or tempfile.mkdtemp(prefix="tfcompress-search-")
    # KerasTuner prints "Reloading Tuner from ..." when it resumes: tfcompress says it in its own lines
    with contextlib.redirect_stdout(io.StringIO()) if not trainer.verbose else contextlib.nullcontext():
        from tfcompress.search.cluster import tuner_class  # StudentTuner, or its chief/worker kind (many machines)

        tuner = tuner_class()(make_oracle(oracle, max_trials, epochs, seed), hypermodel, trainer, budget, epochs,
                             reward=reward, seed=seed, directory=directory, project_name=project_name,
                             overwrite=overwrite)
    if max_seconds:
        tuner.oracle.deadline = time.time() + float(max_seconds) - (time.perf_counter() - start)
    if not budget.is_unbounded:
        check_reachable(hypermodel, tuner.oracle.get_space(), budget, tuner.representative())
    tuner.search(verbose=trainer.verbose)
    if is_distributed_worker():
        return None
    return _collect(tuner, hypermodel, trainer, budget, final_epochs, time.perf_counter() - start)


def is_distributed_worker():
    """True in a KerasTuner distributed worker (oracle address set, tuner id without "chief")."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in os.environ.get("KERASTUNER_TUNER_ID", "")


def check_reachable(hypermodel, space, budget, representative_data):
    """Raise ``BudgetError`` if even the smallest candidate of the space breaks ``budget``."""
    values = smallest_values(hypermodel, space)
    if getattr(hypermodel, "fit_width", False):
        values = dict(values, width=float(hypermodel.widths_for(values)[0]))
    model = build_with(hypermodel, space, values)
    measured, violations = measure_candidate(model, representative_data, budget.ceiling(), latency=False)
    keras.backend.clear_session()
    if violations:
        reached = ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in measured.items())
        raise BudgetError(f"the budget {budget!r} cannot be met by this search space: its smallest candidate "
                          f"({values}) measures {reached} ({'; '.join(violations)}). Fix: raise the budget to "
                          f"at least these numbers, or search a space of smaller students.")
    return measured


def _check_args(max_trials, epochs, oracle, reward, budget, final_epochs):
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ConfigError(f"expected max_trials to be a positive integer, received {max_trials!r}.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"expected epochs to be a positive integer, received {epochs!r}.")
    if not isinstance(final_epochs, int) or final_epochs < 0:
        raise ConfigError(f"expected final_epochs to be an integer >= 0, received {final_epochs!r}.")
    if oracle not in ORACLES:
        raise ConfigError(f"unknown oracle {oracle!r}; valid oracles: {', '.join(ORACLES)}.")
    if reward not in REWARDS:
        raise ConfigError(f"unknown reward {reward!r}; valid rewards: None (accuracy), 'accuracy', 'mnas'.")
    if reward == "mnas" and not (budget.max_bytes or budget.max_latency_us):
        raise ConfigError("reward='mnas' needs a target: set budget max_bytes (or max_latency_us).")


def _collect(tuner, hypermodel, trainer, budget, final_epochs, seconds):
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: (len(t.trial_id), t.trial_id))
    rows = [_row(tuner, trial) for trial in trials]
    done = [r for r in rows if r["status"] == "COMPLETED"]
    if not done:
        rejected = [r for r in rows if r["status"] == "REJECTED"]
        if rejected and len(rejected) == len(rows):
            smallest = min((r.get("int8_bytes") or 0) for r in rejected)
            raise BudgetError(f"all {len(rows)} candidates drawn were rejected by the budget {budget!r}; the "
                              f"smallest had int8_bytes={smallest}. Fix: raise the budget, or search a space of "
                              f"smaller students.")
        messages = [r.get("message") or "" for r in rows if r["status"] == "FAILED"]
        first = (messages[0] if messages else "no trial ran").split("FailedTrialError: ")[-1]
        raise TrainingError(f"none of the {len(rows)} trials completed, so there is no best student. First "
                            f"failure: {first}")
    best = tuner.oracle.get_best_trials(1)[0]  # completed trials rank first
    # a fitted width (and blocks dropped to fit) are in the trial's record, also when a worker trained it
    values = dict(best.hyperparameters.values, **tuner.read_record(best.trial_id).get("values", {}))
    keras.backend.clear_session()
    model = build_with(hypermodel, tuner.oracle.get_space(), values)
    values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
    weights = tuner.weights_path(best.trial_id)
    if weights:
        model.load_weights(weights)
        more = final_epochs
    elif "KERASTUNER_ORACLE_IP" in os.environ:  # a worker trained it: the output folder is not shared
        from tfcompress.search.cluster import missing_weights_error

        raise missing_weights_error(best.trial_id, tuner.read_record(best.trial_id).get("tuner_id"),
                                    os.path.join(tuner.project_dir, f"trial_{best.trial_id}"))
    else:  # e.g. the worker that trained it kept its folder: train afresh
        more = tuner.epochs + final_epochs
    if more:
        trainer.fit(model, more)
    accuracy = float(trainer.evaluate(model))
    return SearchResult(values, model, accuracy, best.trial_id, rows, budget, tuner.project_dir, seconds,
                        tuner.ran_trial_ids)


def _row(tuner, trial):
    record = tuner.read_record(trial.trial_id)
    row = {"trial_id": trial.trial_id, "status": trial.status,
           "hyperparameters": dict(trial.hyperparameters.values)}
    if record.get("values"):
        row["hyperparameters"] = dict(row["hyperparameters"], **record["values"])
    for name in ("score", "val_accuracy", "params", "int8_bytes", "arena_bytes", "latency_us", "train_seconds",
                 "draws", "fit_conversions", "val_accuracy_float"):
        if trial.metrics.exists(name):
            row[name] = trial.metrics.get_last_value(name)
        elif name in record:
            row[name] = record[name]
    for name in ("params", "int8_bytes", "arena_bytes"):
        if row.get(name) is not None:
            row[name] = int(row[name])
    row["tuner_id"] = record.get("tuner_id")
    if trial.status in ("FAILED", "INVALID"):
        message = trial.message or ""
        if is_rejected(tuner.project_dir, trial):
            row["status"] = "REJECTED"
            row["reason"] = record.get("rejected") or message.split(REJECTED_PREFIX)[-1].strip()
        else:
            row["status"] = "FAILED"
            row["message"] = message.strip().splitlines()[-1] if message.strip() else ""
    return row


__all__ = ["search_student", "SearchResult", "check_reachable"]
