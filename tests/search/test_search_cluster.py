"""``tfcompress run`` as the chief or a worker of a search on many machines (``tfcompress.search.cluster``)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import tfcompress
from tfcompress import cli, keras
from tfcompress.errors import ConfigError
from tfcompress.search import cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV_KEYS = (cluster.ENV_ID, cluster.ENV_IP, cluster.ENV_PORT, cluster.TIMEOUT_ENV)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_cluster_env(monkeypatch):
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


# ---------------------------------------------------------------- roles and one-line errors (fast)
def test_roles_from_kerastuner_variables():
    address = {cluster.ENV_IP: "10.0.0.5", cluster.ENV_PORT: "8000"}
    assert cluster.role_from_env({}) is None
    chief = cluster.role_from_env({cluster.ENV_ID: "chief", **address})
    worker = cluster.role_from_env({cluster.ENV_ID: "tuner1", **address})
    assert (chief.kind, chief.is_worker, chief.address) == ("chief", False, "10.0.0.5:8000")
    assert (worker.kind, worker.is_worker, worker.tuner_id, worker.port) == ("worker", True, "tuner1", 8000)
    assert cluster.role_from_env({cluster.ENV_ID: "chief-0", **address}).kind == "chief"  # KerasTuner's rule


@pytest.mark.parametrize("env, names", [
    ({cluster.ENV_ID: "tuner0"}, ["KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT are not"]),
    ({cluster.ENV_ID: "tuner0", cluster.ENV_IP: "127.0.0.1"}, ["KERASTUNER_ORACLE_PORT is not"]),
    ({cluster.ENV_IP: "127.0.0.1", cluster.ENV_PORT: "8000"}, ["KERASTUNER_TUNER_ID is not"]),
    ({cluster.ENV_ID: "tuner0", cluster.ENV_IP: "127.0.0.1", cluster.ENV_PORT: "80a"}, ["'80a' is not a port"]),
])
def test_incomplete_variables_are_one_clear_error(env, names):
    with pytest.raises(ConfigError) as info:
        cluster.role_from_env(env)
    message = str(info.value)
    assert all(name in message for name in names) and "\n" not in message


def test_chief_timeout_variable():
    assert cluster.chief_timeout({}) == cluster.DEFAULT_TIMEOUT
    assert cluster.chief_timeout({cluster.TIMEOUT_ENV: "2.5"}) == 2.5
    for bad in ("0", "soon"):
        with pytest.raises(ConfigError, match="TFCOMPRESS_CHIEF_TIMEOUT"):
            cluster.chief_timeout({cluster.TIMEOUT_ENV: bad})


def test_tuner_class_follows_the_role(no_cluster_env):
    from tfcompress.search.tuner import StudentTuner

    assert cluster.tuner_class() is StudentTuner
    no_cluster_env.setenv(cluster.ENV_IP, "127.0.0.1")
    no_cluster_env.setenv(cluster.ENV_PORT, "8000")
    no_cluster_env.setenv(cluster.ENV_ID, "tuner3")
    assert cluster.tuner_class() is cluster.WorkerTuner
    no_cluster_env.setenv(cluster.ENV_ID, "chief")
    assert cluster.tuner_class() is cluster.ChiefTuner


def test_a_worker_gives_up_on_an_unreachable_chief():
    role = cluster.Role("worker", "tuner0", "127.0.0.1", _free_port())  # nothing listens there
    begin = time.perf_counter()
    with pytest.raises(cluster.ClusterError) as info:
        cluster.wait_for_chief(role, timeout=1.0)
    assert time.perf_counter() - begin < 10
    assert "could not reach the chief at 127.0.0.1:" in str(info.value) and "within 1 s" in str(info.value)


def test_the_chief_refuses_a_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        role = cluster.Role("chief", "chief", "127.0.0.1", busy.getsockname()[1])
        with pytest.raises(cluster.ClusterError, match="cannot serve the search at 127.0.0.1:"):
            cluster.check_port_free(role)
    cluster.check_port_free(cluster.Role("chief", "chief", "127.0.0.1", _free_port()))  # a free port passes


def _recipe(folder, stages):
    (folder / "t.keras").write_text("not read")
    (folder / "d.npz").write_text("not read")
    path = folder / "recipe.yaml"
    path.write_text(f"teacher: t.keras\ndata: d.npz\noutput: out\nstages:\n{stages}")
    return str(path)


@pytest.mark.parametrize("tuner_id, expected", [("tuner0", "nothing for a worker to do"),
                                                ("chief", "nothing to share with workers")])
def test_a_recipe_without_search_is_refused_before_any_work(tmp_path, capsys, no_cluster_env, tuner_id, expected):
    path = _recipe(tmp_path, "  - quantize: {method: ptq}\n  - export: {format: int8}\n")
    for key, value in ((cluster.ENV_ID, tuner_id), (cluster.ENV_IP, "127.0.0.1"), (cluster.ENV_PORT, "8000")):
        no_cluster_env.setenv(key, value)
    assert cli.main(["run", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1  # the files were never read


@pytest.mark.parametrize("tuner_id", ["tuner0", "chief"])
def test_two_search_stages_are_refused(tmp_path, capsys, no_cluster_env, tuner_id):
    path = _recipe(tmp_path, "  - search: {family: mlp, max_trials: 1, epochs: 1}\n"
                             "  - search: {family: mlp, max_trials: 1, epochs: 1}\n")
    for key, value in ((cluster.ENV_ID, tuner_id), (cluster.ENV_IP, "127.0.0.1"), (cluster.ENV_PORT, "8000")):
        no_cluster_env.setenv(key, value)
    assert cli.main(["run", path]) == 2
    err = capsys.readouterr().err
    assert "the recipe has 2 search stages" in err and err.count("\n") == 1


def test_missing_variables_through_the_command(tmp_path, capsys, no_cluster_env):
    path = _recipe(tmp_path, "  - search: {family: mlp, max_trials: 1, epochs: 1}\n")
    no_cluster_env.setenv(cluster.ENV_ID, "tuner0")
    assert cli.main(["run", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: KERASTUNER_TUNER_ID=tuner0 is set but") and err.count("\n") == 1


def test_the_chief_says_when_the_best_trials_weights_are_missing(no_cluster_env, tmp_path):
    """The chief rebuilds the best student from the weights its worker wrote; not shared, it stops and says so."""
    from tfcompress.search import search_student
    from tfcompress.search.tuner import StudentTuner
    from tfcompress.train import Trainer

    class SearchedElsewhere(StudentTuner):  # the trials ran, then the process looks like a chief whose
        def search(self, *args, **kwargs):  # workers' files are not in its folder
            super().search(*args, **kwargs)
            for key, value in ((cluster.ENV_ID, "chief"), (cluster.ENV_IP, "127.0.0.1"), (cluster.ENV_PORT, "1")):
                no_cluster_env.setenv(key, value)

        def weights_path(self, trial_id):
            return None

    no_cluster_env.setattr(cluster, "tuner_class", lambda: SearchedElsewhere)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=120).astype("int32")
    x = (rng.normal(scale=2.0, size=(3, 6))[y] + rng.normal(size=(120, 6))).astype("float32")
    trainer = Trainer({"x_train": x[:80], "y_train": y[:80], "x_val": x[80:], "y_val": y[80:]}, batch_size=32)
    with pytest.raises(cluster.ClusterError) as info:
        search_student(trainer, family="mlp", max_trials=1, epochs=1, directory=str(tmp_path))
    message = str(info.value)
    assert message.startswith("the best trial 00 (run by tuner0) has no weights in ")
    assert os.path.join(str(tmp_path), "student_search", "trial_00") in message and "shared file system" in message


# ---------------------------------------------------------------- chief and workers as real commands (slow)
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """digits.npz, a tiny CNN teacher and a recipe (search of 4 trials of 1 epoch, then an int8 export)."""
    root = tmp_path_factory.mktemp("cluster")
    data = tfcompress.load_digits_data()
    np.savez(root / "digits.npz", **data)
    keras.utils.set_random_seed(1)
    teacher = tfcompress.build_cnn((8, 8, 1), 10, filters=(8,), dense_units=16, name="teacher")
    teacher.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], epochs=3, batch_size=64, verbose=0)
    teacher.save(str(root / "teacher.keras"))
    return root


def _write_recipe(root, name):
    path = root / f"{name}.yaml"
    path.write_text(f"teacher: teacher.keras\ndata: digits.npz\noutput: {name}\nlatency_runs: 0\nstages:\n"
                    "  - search: {family: cnn, max_trials: 4, epochs: 1}\n  - export: {format: int8}\n")
    return str(path)


class Machines:
    """The chief and the workers of one search, each ``python -m tfcompress.cli run RECIPE`` on 127.0.0.1."""

    def __init__(self, root, recipe):
        self.root, self.recipe, self.port = root, recipe, _free_port()
        self.procs, self.logs = {}, {}

    def start(self, tuner_id, *flags, log_name=None, **extra_env):
        env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(self.port), TF_CPP_MIN_LOG_LEVEL="3", TFCOMPRESS_CHIEF_TIMEOUT="300",
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra_env)
        log = self.root / f"{log_name or tuner_id}.log"
        with open(log, "w") as out:
            self.procs[log_name or tuner_id] = subprocess.Popen(
                [sys.executable, "-m", "tfcompress.cli", "run", self.recipe, *flags], env=env, stdout=out,
                stderr=subprocess.PIPE, text=True)
        self.logs[log_name or tuner_id] = log

    def wait(self, name, timeout=240):
        proc = self.procs[name]
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, self.logs[name].read_text(), err

    def wait_for_line(self, name, text, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.logs[name].read_text().splitlines():
                if text in line:
                    return line
            assert self.procs[name].poll() is None, f"{name} ended before printing {text!r}"
            time.sleep(0.1)
        raise AssertionError(f"{name} did not print {text!r} within {timeout} s")

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _search_trials(output):
    report = json.loads((output / "report.json").read_text())
    (search,) = [row for row in report["stages"] if row["stage"] == "search"]
    return report, search["report"]["trials"]


def _done_lines(text):
    return [line.split(" trial ")[1].split()[0] for line in text.splitlines() if " done (" in line]


@pytest.mark.slow
def test_chief_and_two_workers_from_the_command_line(digits_run):
    machines = Machines(digits_run, _write_recipe(digits_run, "out"))
    try:
        machines.start("chief", "--quiet")
        machines.start("tuner0")
        machines.start("tuner1")
        results = {name: machines.wait(name) for name in ("tuner0", "tuner1", "chief")}
    finally:
        machines.stop()
    for name, (code, out, err) in results.items():
        assert code == 0, f"{name} exited with {code}:\n{out[-2000:]}\n{err[-2000:]}"
        assert err == "", f"{name} wrote to stderr: {err[-2000:]}"
    assert results["chief"][1] == ""  # --quiet
    report, trials = _search_trials(digits_run / "out")
    ids = [t["trial_id"] for t in trials]
    assert len(ids) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    assert {t["tuner_id"] for t in trials} == {"tuner0", "tuner1"}  # the chief serves, the workers train
    ran = {name: _done_lines(results[name][1]) for name in ("tuner0", "tuner1")}
    assert sorted(ran["tuner0"] + ran["tuner1"]) == sorted(ids)  # each trial ran once, on one worker
    for name in ("tuner0", "tuner1"):
        lines = results[name][1].splitlines()
        assert all(line.startswith(f"worker {name}: ") for line in lines), lines  # no library noise
        assert lines[-1].startswith(f"worker {name}: the search is over; ran {len(ran[name])} trial")
        assert {t["trial_id"] for t in trials if t["tuner_id"] == name} == set(ran[name])
    # the chief went on with the best student: its report, and the int8 file of the export
    assert report["stages"][-1]["stage"] == "export" and report["stages"][-1]["after"]["format"] == "int8"
    card = json.loads((digits_run / "out" / "model.json").read_text())
    assert card["file"]["bytes"] == os.path.getsize(digits_run / "out" / "model.tflite")
    (best,) = [t for t in trials if t["trial_id"] == report["stages"][0]["report"]["best_trial_id"]]
    assert best["score"] == max(t["score"] for t in trials)
    # the workers wrote only trial files of the search (no report, state or model of their own)
    search_dir = digits_run / "out" / "stage_1_search" / "student_search"
    assert (search_dir / "tuner0.json").exists() and (search_dir / "tuner1.json").exists()
    assert sorted(p.name for p in (digits_run / "out").iterdir() if p.suffix in (".json", ".md", ".tflite")) == \
        ["model.json", "model.tflite", "report.json", "report.md"]


@pytest.mark.slow
def test_a_worker_killed_in_a_trial_is_restarted_and_the_search_completes(digits_run):
    machines = Machines(digits_run, _write_recipe(digits_run, "out_kill"))
    try:
        machines.start("chief", "--quiet")
        machines.start("tuner0", log_name="tuner0-killed")
        machines.start("tuner1")
        started = machines.wait_for_line("tuner0-killed", "worker tuner0: trial ")
        trial_id = started.split(" trial ")[1].split()[0]
        assert started.endswith(f"trial {trial_id} started")
        time.sleep(0.5)
        machines.procs["tuner0-killed"].send_signal(signal.SIGKILL)
        machines.procs["tuner0-killed"].wait(timeout=30)
        killed_log = machines.logs["tuner0-killed"].read_text()
        assert f"trial {trial_id} done" not in killed_log  # killed in the middle of its trial
        machines.start("tuner0")  # the same id: the oracle hands the unfinished trial back
        results = {name: machines.wait(name) for name in ("tuner0", "tuner1", "chief")}
    finally:
        machines.stop()
    for name, (code, out, err) in results.items():
        assert code == 0, f"{name} exited with {code}:\n{out[-2000:]}\n{err[-2000:]}"
    restarted = results["tuner0"][1]
    first = [line for line in restarted.splitlines() if line.endswith(" started")][0]
    assert first == f"worker tuner0: trial {trial_id} started"  # its first trial: the one it was killed in
    _, trials = _search_trials(digits_run / "out_kill")
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    (again,) = [t for t in trials if t["trial_id"] == trial_id]
    assert again["tuner_id"] == "tuner0"
    ran = _done_lines(restarted) + _done_lines(results["tuner1"][1])
    assert sorted(ran) == sorted(t["trial_id"] for t in trials)



@pytest.mark.slow
def test_a_killed_worker_that_is_not_restarted_has_its_trial_run_by_another(digits_run):
    machines = Machines(digits_run, _write_recipe(digits_run, "out_dead"))
    try:
        machines.start("chief", log_name="chief", TFCOMPRESS_WORKER_TIMEOUT="10")
        machines.start("tuner0")
        started = machines.wait_for_line("tuner0", "worker tuner0: trial ")
        trial_id = started.split(" trial ")[1].split()[0]
        time.sleep(0.5)
        machines.procs["tuner0"].send_signal(signal.SIGKILL)
        machines.procs["tuner0"].wait(timeout=30)
        assert f"trial {trial_id} done" not in machines.logs["tuner0"].read_text()
        machines.start("tuner1")  # the only worker left; tuner0 never comes back
        results = {name: machines.wait(name) for name in ("tuner1", "chief")}
    finally:
        machines.stop()
    for name, (code, out, err) in results.items():
        assert code == 0, f"{name} exited with {code}:\n{out[-2000:]}\n{err[-2000:]}"
    assert f"trial {trial_id} of tuner0: no word for" in results["chief"][1]
    _, trials = _search_trials(digits_run / "out_dead")
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    (again,) = [t for t in trials if t["trial_id"] == trial_id]
    assert again["tuner_id"] == "tuner1"  # run again, by the other worker
    assert sorted(_done_lines(results["tuner1"][1])) == sorted(t["trial_id"] for t in trials)
