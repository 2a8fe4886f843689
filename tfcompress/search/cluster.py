"""The search on many machines: one ``tfcompress run recipe.yaml`` per machine, roles from KerasTuner's variables.

Every machine runs the same command on the same recipe, with KerasTuner's environment variables:

- ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``: the chief's address (on the chief: where it listens);
- ``KERASTUNER_TUNER_ID``: ``chief`` (any id containing "chief", KerasTuner's rule) or a worker id (``tuner0``,
  ``tuner1``, ... one per worker, each different).

Roles:

- **chief**: runs the whole pipeline as on one machine. At a ``search`` stage it serves the oracle (KerasTuner's
  chief role, gRPC) and trains nothing itself; it logs each trial a worker ends and waits until every trial has
  ended, then loads the best trial's weights, which the worker that trained it wrote into the search folder, and
  goes on with the next stages, the report and the model. The output folder must therefore be shared by every
  machine at the same path (the same machine, or a shared file system); a best trial whose weights are not there
  is an error that says so (``missing_weights_error``).
- **worker**: reads the same recipe, data and teacher, and runs trials of each search stage as a KerasTuner
  client (``WorkerTuner``), writing only the trials' files into the shared search folder. It runs no other
  stage, writes no report or model, and returns (exit status 0) once the oracle says the search is over.

A worker killed in the middle of a trial: KerasTuner's oracle (1.4.8, ``Oracle.create_trial``) keeps the trial
in ``ongoing_trials`` under the worker's ``tuner_id`` and hands that very trial back when a tuner with the same
id asks for one, so a worker restarted with the same ``KERASTUNER_TUNER_ID`` runs the unfinished trial again from
the start. The oracle itself never gives a dead worker's trial to another id, and its chief waits
(``oracle_chief.exit_chief``: no ongoing trial, no registered tuner) until that trial has ended. So each worker
sends a heartbeat every 2 seconds while it trains (a ``GetTrial`` call), and the chief
(``ChiefTuner``, with ``search/watch.py``'s ``TrialWatch``) gives the trial of a worker silent for ``TFCOMPRESS_WORKER_TIMEOUT`` seconds (default 120) to
the next worker that asks for a trial; a worker that finds no new trial while others are still running waits
(KerasTuner's IDLE answer) instead of leaving, so it can take over a dead worker's trial.

``TFCOMPRESS_CHIEF_TIMEOUT`` (seconds, default 600) bounds how long a worker waits for the chief to serve.
"""

import os
import socket
import time

from tfcompress import _compat
from tfcompress.errors import ConfigError, TFCompressError
from tfcompress.search.tuner import StudentTuner, is_rejected, read_record
from tfcompress.search.watch import Heartbeat, TrialWatch, worker_timeout

ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"
TIMEOUT_ENV = "TFCOMPRESS_CHIEF_TIMEOUT"
DEFAULT_TIMEOUT = 600.0


class ClusterError(TFCompressError, RuntimeError):
    """A machine of a distributed search cannot play its part (the chief unreachable, files not shared)."""


class Role:
    """This process's part in a distributed search: ``kind`` is "chief" or "worker"."""

    def __init__(self, kind, tuner_id, ip, port):
        self.kind, self.tuner_id, self.ip, self.port = kind, tuner_id, ip, port

    @property
    def is_worker(self):
        return self.kind == "worker"

    @property
    def address(self):
        return f"{self.ip}:{self.port}"

    def __repr__(self):
        return f"Role({self.kind!r}, {self.tuner_id!r}, {self.address!r})"


def role_from_env(environ=None):
    """The ``Role`` the KerasTuner variables give this process; None when none is set (one machine).

    Raises:
        ConfigError: some of the variables are set but not all, or the port is not a port number.
    """
    env = os.environ if environ is None else environ
    tuner_id, ip, port = (env.get(k) or None for k in (ENV_ID, ENV_IP, ENV_PORT))
    if tuner_id is None and ip is None and port is None:
        return None
    if tuner_id is None:
        raise ConfigError(f"{ENV_IP}/{ENV_PORT} are set but {ENV_ID} is not: set {ENV_ID}=chief on the chief and "
                          f"{ENV_ID}=tuner0, tuner1, ... on the workers (or unset all three for one machine).")
    missing = [k for k, v in ((ENV_IP, ip), (ENV_PORT, port)) if v is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(f"{ENV_ID}={tuner_id} is set but {' and '.join(missing)} {verb} not: set {ENV_IP} and "
                          f"{ENV_PORT} to the chief's address on every machine (or unset {ENV_ID} to run on one "
                          "machine).")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{ENV_PORT}={port!r} is not a port number (1-65535).")
    return Role("chief" if "chief" in tuner_id else "worker", tuner_id, ip, int(port))


def chief_timeout(environ=None):
    """Seconds a worker waits for the chief to serve (``TFCOMPRESS_CHIEF_TIMEOUT``, default 600)."""
    value = (os.environ if environ is None else environ).get(TIMEOUT_ENV)
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"{TIMEOUT_ENV}={value!r} must be a number of seconds > 0.")
    return seconds


def search_stages(pipeline):
    """``[(index, stage)]`` of the pipeline's search stages (those that provide a student by searching)."""
    return [(i, s) for i, s in enumerate(pipeline.stages) if s.name == "search"]


def check_chief_recipe(pipeline, role):
    """A chief whose recipe has no search stage would keep its workers waiting: refuse it."""
    if not search_stages(pipeline):
        raise ConfigError(f"{ENV_ID}={role.tuner_id}: the recipe has no search stage, so there is nothing to share "
                          f"with workers; unset {ENV_ID}, {ENV_IP} and {ENV_PORT} to run it on one machine.")
    check_one_search(pipeline, role)


def check_one_search(pipeline, role):
    """One search stage per distributed run: KerasTuner's chief never closes its server, so a second search
    could not serve on the same port."""
    if len(search_stages(pipeline)) > 1:
        raise ConfigError(f"{ENV_ID}={role.tuner_id}: the recipe has {len(search_stages(pipeline))} search stages; "
                          "a search on many machines runs one (split the recipe, or run it on one machine).")


def run_recipe(path, verbose=1, unsafe_load=False, log=None, custom_objects=None, **options):
    """``tfcompress run``: the recipe on one machine, or this machine's part of a distributed search.

    Without KerasTuner's variables, ``tfcompress.pipeline.run_recipe``. A chief runs the whole recipe the same way
    (its search stages serve the oracle) and returns the report; a worker runs ``run_worker`` and returns None.
    ``options`` go to ``tfcompress.pipeline.run_recipe`` (a worker ignores them).
    """
    from tfcompress.pipeline.pipeline import Pipeline
    from tfcompress.pipeline.recipe import read_recipe_stages

    from tfcompress.pipeline import run_recipe as run_here

    role = role_from_env()
    if role is not None and role.is_worker:
        run_worker(path, role, verbose=verbose, unsafe_load=unsafe_load,
                   log=log or (_printer if verbose else (lambda line: None)), custom_objects=custom_objects)
        return None
    if role is not None:  # the chief: refuse a recipe that has nothing to share before loading anything
        worker_timeout()  # a bad value fails now
        recipe, stages = read_recipe_stages(path)
        check_chief_recipe(Pipeline.from_config(recipe, stages=stages), role)
    return run_here(path, verbose=verbose, unsafe_load=unsafe_load, log=log, custom_objects=custom_objects,
                    **options)


def _printer(line):
    print(line, flush=True)


def run_worker(path, role, verbose=1, unsafe_load=False, log=print, custom_objects=None):
    """Run the search stages of the recipe at ``path`` as worker ``role`` (see the module docstring).

    Returns:
        The ids of the trials this worker ran.

    Raises:
        ConfigError: the recipe has no search stage ("nothing for a worker to do").
        ClusterError: the chief could not be reached within ``TFCOMPRESS_CHIEF_TIMEOUT``.
    """
    from tfcompress._keras import keras
    from tfcompress.pipeline import start
    from tfcompress.pipeline.context import RunContext
    from tfcompress.pipeline.pipeline import Pipeline
    from tfcompress.pipeline.recipe import read_recipe_stages

    recipe, stages = read_recipe_stages(path)
    pipeline = Pipeline.from_config(recipe, stages=stages)
    searches = search_stages(pipeline)
    name = f"worker {role.tuner_id}"
    if not searches:
        raise ConfigError(f"{name}: the recipe {path} has no search stage: nothing for a worker to do (run it "
                          f"without {ENV_ID} on one machine, or add a search stage).")
    check_one_search(pipeline, role)
    chief_timeout()  # a bad value fails now, before the teacher is loaded
    if pipeline.data is None or pipeline.output is None:
        raise ConfigError(f"{name}: the recipe must give data and output (the folder shared with the chief).")
    log(f"{name}: reading the data and the teacher")
    data = start.read_data(pipeline.data, pipeline.stages)
    teacher, black_box = start.load_run_teacher(pipeline, data, unsafe_load, custom_objects, lambda line: None)
    context = RunContext(teacher, data, pipeline.output, seed=pipeline.seed, batch_size=pipeline.batch_size,
                         learning_rate=pipeline.learning_rate, distill_options=pipeline.distill,
                         latency_runs=pipeline.latency_runs, verbose=verbose, log=log, black_box=black_box)
    ran, timeout = [], chief_timeout()
    for i, stage in searches:  # one (check_one_search)
        log(f"{name}: waiting for the chief at {role.address} (up to {timeout:g} s)")
        wait_for_chief(role, timeout)
        keras.utils.set_random_seed(context.seed + i)
        trainer = context.trainer(i, len(pipeline.stages), stage, context.workdir(i, stage))
        trainer.label = name
        trainer.progress = log if verbose else None
        trainer.ran = ran  # WorkerTuner adds the ids of the trials it ran
        stage.apply(teacher, trainer)  # the search stage's own options; returns None on a worker
    log(f"{name}: the search is over; ran {len(ran)} trial{'s' if len(ran) != 1 else ''}"
        f"{' (' + ', '.join(ran) + ')' if ran else ''}; the chief writes the report and the model")
    return ran


def tuner_class():
    """The tuner class of this process: ``WorkerTuner``, ``ChiefTuner`` or, on one machine, ``StudentTuner``."""
    role = role_from_env()
    if role is None:
        return StudentTuner
    return WorkerTuner if role.is_worker else ChiefTuner


def wait_for_chief(role, timeout):
    """Block until the chief's gRPC server answers at ``role.address``; ``ClusterError`` after ``timeout`` s."""
    import grpc

    channel = grpc.insecure_channel(role.address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise ClusterError(f"worker {role.tuner_id}: could not reach the chief at {role.address} within "
                           f"{timeout:g} s ({TIMEOUT_ENV}). Start the chief ({ENV_ID}=chief, same recipe) and "
                           f"check {ENV_IP}/{ENV_PORT} and the firewall.") from None
    finally:
        channel.close()


class WorkerTuner(StudentTuner):
    """A ``StudentTuner`` in a worker: one progress line per trial it starts and ends (``run_worker`` waits for
    the chief before it builds one)."""

    def __init__(self, oracle, hypermodel, trainer, *args, **kwargs):
        _compat.silence_condition_print()
        self.ran = getattr(trainer, "ran", [])
        super().__init__(oracle, hypermodel, trainer, *args, **kwargs)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self.ran.append(trial.trial_id)
        self._heartbeat = Heartbeat(self.oracle, trial.trial_id)
        if self.progress:
            self.progress(f"worker {self.tuner_id}: trial {trial.trial_id} started")

    def on_trial_end(self, trial):
        beat = getattr(self, "_heartbeat", None)
        if beat is not None:
            beat.stop()
        progress, self.progress = self.progress, None  # StudentTuner's line counts the oracle's trials: not here
        try:
            super().on_trial_end(trial)
        finally:
            self.progress = progress
        if progress is None:
            return
        record = self.read_record(trial.trial_id)
        head = f"worker {self.tuner_id}: trial {trial.trial_id}"
        if "rejected" in record:
            progress(f"{head} skipped ({record['rejected']})")
        elif "val_accuracy" in record and trial.status == "COMPLETED":
            family = record.get("values", {}).get("family") or self.hypermodel.name
            progress(f"{head} done ({family}, {record.get('params', 0):,} params, {record.get('int8_bytes', 0):,} "
                     f"B): int8 val accuracy {record['val_accuracy']:.4f}, {record.get('train_seconds', 0):.1f} s "
                     "training")
        else:
            progress(f"{head} {str(trial.status).lower()}")


class ChiefTuner(StudentTuner):
    """A ``StudentTuner`` in the chief: checks its port, serves the oracle, logs each trial a worker ends."""

    def search(self, *args, **kwargs):
        _compat.silence_condition_print()
        role = role_from_env()
        check_port_free(role)
        log = self.progress or (lambda line: None)
        oracle, end_trial = self.oracle, self.oracle.end_trial
        started = time.perf_counter()

        def logged_end_trial(trial):
            end_trial(trial)
            record = read_record(self.project_dir, trial.trial_id)
            kept = oracle.trials.get(trial.trial_id, trial)
            if "rejected" in record or is_rejected(self.project_dir, kept):
                return
            done = sum(t.status == "COMPLETED" for t in oracle.trials.values())
            accuracy = f": int8 val accuracy {record['val_accuracy']:.4f}" if "val_accuracy" in record else ""
            log(f"{self.label}: trial {trial.trial_id} {str(kept.status).lower()} by "
                f"{record.get('tuner_id', 'a worker')}{accuracy} ({done}/{oracle.trained_trials} completed, "
                f"{time.perf_counter() - started:.0f} s)")

        oracle.end_trial = logged_end_trial
        watch = TrialWatch(oracle, worker_timeout(), lambda line: log(f"{self.label}: {line}"))
        log(f"{self.label}: serving the search at {role.address}; start the workers ({ENV_ID}=tuner0, tuner1, ... "
            "same recipe, same output folder)")
        try:
            super().search(*args, **kwargs)
        finally:
            oracle.end_trial = end_trial
            watch.close()
        log(f"{self.label}: every trial has ended")


def check_port_free(role):
    """``ClusterError`` if the chief cannot listen at its address (gRPC would fail silently and wait forever)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in role.ip else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((role.ip, role.port))
    except OSError as exc:
        raise ClusterError(f"chief: cannot serve the search at {role.address} ({exc.strerror or exc}); choose "
                           f"another {ENV_PORT}, or set {ENV_IP} to an address of this machine.") from None


def missing_weights_error(trial_id, tuner_id, path):
    """The chief's error when the best trial's weights are not in the (supposedly shared) search folder."""
    return ClusterError(f"the best trial {trial_id} (run by {tuner_id or 'a worker'}) has no weights in {path}: "
                        "the workers write each trial's files into the output folder, so the chief and every "
                        "worker must share it at the same path (the same machine, or a shared file system).")


__all__ = ["Role", "role_from_env", "run_recipe", "run_worker", "tuner_class", "WorkerTuner", "ChiefTuner",
           "ClusterError", "check_chief_recipe", "chief_timeout", "missing_weights_error"]
