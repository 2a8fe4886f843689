"""Bad input through the real CLI: each case is answered before any training with one ``error:`` line and exit 2.

Every case builds its files in ``tmp_path`` and runs ``tfcompress run recipe.yaml`` (in-process through
``tfcompress.cli.main``; ``test_real_subprocesses`` runs a few of them as real ``python -m tfcompress.cli``
processes). Each asserts exit status 2, one stderr line starting with ``error:`` that names the problem, no
traceback, and that no stage started (no ``stage_*`` folder, no model file).
"""

import os

import numpy as np
import pytest
from fault_helpers import INPUT_SHAPE, make_data, own_lines, start_cli, write_recipe

from tfcompress._keras import keras
from tfcompress.cli import main


def _npz(tmp, **changes):
    data = make_data()
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value(data) if callable(value) else value
    path = os.path.join(tmp, "bad.npz")
    np.savez(path, **data)
    return {"data": path}


def _with_nan(key, value):
    def change(data):
        x = data[key].copy()
        x[1, 2, 3, 0] = value
        return x
    return change


def _model(tmp, build, name="bad_teacher.keras"):
    inp = keras.Input(INPUT_SHAPE)
    model = keras.Model(inp, build(inp))
    path = os.path.join(tmp, name)
    model.save(path)
    return {"teacher": path}


def _file(tmp, name, content):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(content)
    return path


# id -> (function(tmp) -> recipe overrides, words the one-line message must contain)
CASES = {
    "teacher-missing": (lambda t: {"teacher": os.path.join(t, "nope.keras")}, ["nope.keras", "does not exist"]),
    "teacher-corrupt": (lambda t: {"teacher": _file(t, "t.keras", b"PK\x03\x04 not really a zip" * 4)},
                        ["could not load a Keras model", "t.keras"]),
    "teacher-foreign": (lambda t: {"teacher": _file(t, "t.h5", b"\x89PNG\r\n\x1a\n" + bytes(64))},
                        ["could not load a Keras model"]),
    "data-missing": (lambda t: {"data": os.path.join(t, "nope.npz")}, ["nope.npz", "does not exist"]),
    "data-unreadable": (lambda t: {"data": _file(t, "d.npz", b"\x00garbage" * 8)}, ["not a readable .npz"]),
    "data-is-a-pickle": (lambda t: {"data": _file(t, "d.npz", b"\x80\x04\x95" + bytes(20))},
                         ["not a readable .npz"]),
    "npz-lacks-y_val": (lambda t: _npz(t, y_val=None), ["lacks the arrays", "y_val"]),
    "npz-only-x_test": (lambda t: _npz(t, y_test=None), ["only one of x_test/y_test"]),
    "input-shape-mismatch": (lambda t: _npz(t, **{k: (lambda d, k=k: d[k][:, :5, :5]) for k in
                                                   ("x_train", "x_val", "x_test")}),
                             ["shape (5, 5, 1)", "expects (6, 6, 1)"]),
    "input-rank-mismatch": (lambda t: _npz(t, **{k: (lambda d, k=k: d[k].reshape(len(d[k]), -1)) for k in
                                                  ("x_train", "x_val", "x_test")}),
                            ["shape (36,)", "expects (6, 6, 1)"]),
    "input-dtype-text": (lambda t: _npz(t, x_train=lambda d: d["x_train"].astype(str)), ["must be real numbers", "<U"]),
    "lengths-differ": (lambda t: _npz(t, y_train=lambda d: d["y_train"][:-3]), ["inputs but", "labels"]),
    "labels-out-of-range": (lambda t: _npz(t, y_val=lambda d: d["y_val"] + 4), ["out of range", "4 classes"]),
    "labels-negative": (lambda t: _npz(t, y_train=lambda d: d["y_train"] - 1), ["negative class id"]),
    "labels-fractional": (lambda t: _npz(t, y_train=lambda d: d["y_train"] + 0.5),
                          ["not whole numbers", "regression"]),
    "labels-text": (lambda t: _npz(t, y_train=lambda d: d["y_train"].astype(str)), ["labels must be numeric"]),
    "labels-bool": (lambda t: _npz(t, y_train=lambda d: d["y_train"] > 1), ["labels must be numeric"]),
    "labels-3d": (lambda t: _npz(t, y_train=lambda d: d["y_train"].reshape(-1, 1, 1)), ["labels have shape"]),
    "labels-not-one-hot": (lambda t: _npz(t, y_train=lambda d: np.stack([d["y_train"]] * 4, 1)), ["one-hot"]),
    "one-hot-wrong-width": (lambda t: _npz(t, y_train=lambda d: np.eye(5, dtype="float32")[d["y_train"]]),
                            ["5 columns", "4 classes"]),
    "labels-nan": (lambda t: _npz(t, y_val=lambda d: np.where(np.arange(len(d["y_val"])) == 0, np.nan,
                                                              d["y_val"])), ["NaN or infinite"]),
    "inputs-nan": (lambda t: _npz(t, x_train=_with_nan("x_train", np.nan)), ["1 NaN or infinite", "train"]),
    "inputs-inf": (lambda t: _npz(t, x_val=_with_nan("x_val", np.inf)), ["1 NaN or infinite", "val"]),
    "empty-train": (lambda t: _npz(t, x_train=lambda d: d["x_train"][:0], y_train=lambda d: d["y_train"][:0]),
                    ["is empty"]),
    "teacher-regression-head": (lambda t: _model(t, lambda i: keras.layers.Dense(1)(keras.layers.Flatten()(i))),
                                ["1 value(s) per sample", "regression"]),
    "teacher-3d-output": (lambda t: _model(t, lambda i: keras.layers.Dense(4)(keras.layers.Reshape((6, 6))(i))),
                          ["output has shape (None, 6, 4)", "not class scores"]),
    "teacher-two-outputs": (lambda t: _model(t, lambda i: [keras.layers.Dense(4)(keras.layers.Flatten()(i))] * 2),
                            ["2 outputs"]),
    "teacher-lambda": (lambda t: _model(t, lambda i: keras.layers.Lambda(lambda z: z * 2.0)(
        keras.layers.Dense(4)(keras.layers.Flatten()(i)))), ["Lambda layer", "--unsafe-load"]),
    "recipe-unknown-stage": (lambda t: {"stages": "  - distil: {epochs: 1}\n"},
                             ["line 7", "unknown stage 'distil'", "did you mean 'distill'"]),
    "recipe-unknown-option": (lambda t: {"stages": "  - distill: {epochs: 1}\n  - prune: {sparsiti: 0.5}\n"},
                              ["line 8", "no option 'sparsiti'", "did you mean 'sparsity'"]),
    "recipe-unknown-method": (lambda t: {"stages": "  - prune: {method: random}\n"}, ["line 7", "no method 'random'"]),
    "recipe-unknown-key": (lambda t: {"extra": "sede: 1\n"}, ["line 5", "unknown recipe key 'sede'"]),
    "recipe-sparsity-1.5": (lambda t: {"stages": "  - prune: {sparsity: 1.5}\n"}, ["line 7", "sparsity", "1.5"]),
    "recipe-format-int7": (lambda t: {"stages": "  - export: {format: int7}\n"}, ["line 7", "'int7'", "int8"]),
    "recipe-epochs-negative": (lambda t: {"stages": "  - distill: {epochs: -1}\n"}, ["line 7", "epochs", "-1"]),
    "recipe-epochs-text": (lambda t: {"stages": "  - distill: {epochs: many}\n"}, ["line 7", "integer", "'many'"]),
    "recipe-alpha-2": (lambda t: {"stages": "  - distill: {alpha: 2}\n"}, ["line 7", "alpha", "in [0, 1]"]),
    "recipe-temperature-0": (lambda t: {"stages": "  - distill: {temperature: 0}\n"}, ["line 7", "temperature"]),
    "recipe-stage-lr-negative": (lambda t: {"stages": "  - distill: {learning_rate: -0.1}\n"},
                                 ["line 7", "learning_rate"]),
    "recipe-prune-lr-text": (lambda t: {"stages": "  - prune: {learning_rate: fast}\n"},
                             ["line 7", "learning_rate must be a number", "'fast'"]),
    "recipe-quantize-epochs-bool": (lambda t: {"stages": "  - quantize: {epochs: yes}\n"},
                                    ["line 7", "epochs must be an integer", "True"]),
    "recipe-prune-end-fraction-0": (lambda t: {"stages": "  - distill: {epochs: 1}\n  - prune: {end_fraction: 0}\n"},
                                    ["line 8", "prune", "end_fraction must be", "received 0"]),
    "recipe-data-free-latent-dim-0": (lambda t: {"stages": "  - distill: {epochs: 1}\n"
                                                           "  - distill: {data_free: true, latent_dim: 0}\n"},
                                      ["line 8", "data_free", "latent_dim must be", "received 0"]),
    "recipe-cluster-init-typo": (lambda t: {"stages": "  - distill: {epochs: 1}\n  - cluster: {init: kmeans}\n"},
                                 ["line 8", "cluster", "init must be one of", "'kmeans'", "did you mean 'kmeans++'"]),
    "recipe-factorize-flag-text": (lambda t: {"stages": "  - factorize: {only_if_smaller: maybe}\n"},
                                   ["line 7", "factorize", "only_if_smaller must be true or false", "'maybe'"]),
    "recipe-search-max-trials-0": (lambda t: {"stages": "  - search: {max_trials: 0}\n", "extra": ""},
                                   ["line 6", "max_trials", "0"]),
    "recipe-search-oracle": (lambda t: {"stages": "  - search: {oracle: genetic}\n", "extra": ""},
                             ["line 6", "unknown oracle 'genetic'"]),
    "recipe-lr-zero": (lambda t: {"extra": "learning_rate: 0\n"}, ["line 5", "learning_rate"]),
    "recipe-batch-size-0": (lambda t: {"extra": "batch_size: 0\n"}, ["line 5", "batch_size"]),
    "recipe-budget-negative": (lambda t: {"stages": "  - search: {budget: {max_bytes: -10}}\n", "extra": ""},
                               ["line 6", "max_bytes", "-10"]),
    "recipe-not-yaml": (lambda t: {"extra": "seed: [1, 2\n"}, ["not valid YAML", "line 6"]),
    "recipe-python-tag": (lambda t: {"extra": "seed: !!python/object/apply:os.system ['echo pwned']\n"},
                          ["not valid YAML", "python/object"]),
    "recipe-distill-without-student": (lambda t: {"extra": ""}, ["needs a student"]),
    "output-under-a-file": (lambda t: {"output": os.path.join(_file(t, "afile", b"x"), "out")},
                            ["cannot be created", "is a file"]),
    "output-is-a-file": (lambda t: {"output": _file(t, "outfile", b"x")}, ["cannot be created", "is a file"]),
}


def _run(tmp_path, files, overrides, capsys, extra_args=()):
    options = {"teacher": str(files / "teacher.keras"), "data": str(files / "data.npz"),
               "output": str(tmp_path / "out")}
    options.update(overrides)
    recipe = write_recipe(tmp_path, **options)
    capsys.readouterr()
    status = main(["run", recipe, "--quiet", *extra_args])
    return status, capsys.readouterr().err, options["output"]


def _no_work_started(output):
    if not os.path.isdir(output):
        return True
    names = os.listdir(output)
    return not any(n.startswith(("stage_", "model.")) or n == "state" for n in names)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_before_any_work(case, files, tmp_path, capsys):
    make, words = CASES[case]
    status, err, output = _run(tmp_path, files, make(str(tmp_path)), capsys)
    assert status == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert _no_work_started(output), os.listdir(output)  # failed before any stage started


def test_budget_no_candidate_can_meet_fails_before_training(files, tmp_path, capsys):
    """An impossible search budget stops the search stage before its first trial (no trial folder)."""
    overrides = {"stages": "  - search: {budget: {max_bytes: 10}, max_trials: 2, epochs: 1}\n", "extra": ""}
    status, err, output = _run(tmp_path, files, overrides, capsys)
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "cannot be met" in err and "max_bytes=10" in err
    assert not os.path.exists(os.path.join(output, "model.tflite"))
    trials = [d for _, dirs, _ in os.walk(output) for d in dirs if d.startswith("trial_")]
    assert trials == []


def test_debug_shows_the_traceback(files, tmp_path):
    recipe = write_recipe(tmp_path, str(files / "teacher.keras"), str(tmp_path / "nope.npz"))
    with pytest.raises(Exception, match="nope.npz"):
        main(["run", recipe, "--quiet", "--debug"])


def test_unsafe_load_accepts_a_trusted_lambda_teacher(files, tmp_path, capsys):
    """With --unsafe-load the Lambda teacher loads; the run then stops at the next check (bad labels)."""
    teacher = CASES["teacher-lambda"][0](str(tmp_path))
    overrides = {**teacher, **_npz(str(tmp_path), y_val=lambda d: d["y_val"] + 4)}
    status, err, _ = _run(tmp_path, files, overrides, capsys, extra_args=("--unsafe-load",))
    assert status == 2 and "out of range" in err and "Lambda" not in err


SUBPROCESS_CASES = ("recipe-unknown-stage", "teacher-regression-head", "data-missing", "output-under-a-file",
                    "inputs-nan", "debug")


@pytest.mark.parametrize("cases", [SUBPROCESS_CASES[:2],
                                   pytest.param(SUBPROCESS_CASES[2:], marks=pytest.mark.slow)], ids=["fast", "more"])
def test_real_subprocesses(cases, files, tmp_path):
    """The same answers from real ``python -m tfcompress.cli`` processes (run side by side), and --debug."""
    procs = {}
    for case in cases:
        folder = tmp_path / case
        folder.mkdir()
        options = {"teacher": str(files / "teacher.keras"), "data": str(files / "data.npz"),
                   "output": str(folder / "out")}
        options.update(CASES["data-missing" if case == "debug" else case][0](str(folder)))
        recipe = write_recipe(folder, **options)
        args = ["run", recipe, "--quiet"] + (["--debug"] if case == "debug" else [])
        procs[case] = (start_cli(args, cwd=folder), options["output"])
    for case, (proc, output) in procs.items():
        _, err = proc.communicate(timeout=300)
        lines = own_lines(err)
        if case == "debug":
            assert proc.returncode == 1 and "Traceback" in err and "nope.npz" in err
            continue
        assert proc.returncode == 2, (case, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, lines)
        assert "Traceback" not in err
        for word in CASES[case][1]:
            assert word in lines[0], (case, word, lines)
        assert _no_work_started(output)


@pytest.fixture(scope="module")
def tflite_bytes():
    from tfcompress._keras import tf

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3)(inp))
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


TFLITE_CASES = {
    "tflite-zeros": (lambda b: bytes(100), ["is not a TFLite model", "TFL3"]),
    "tflite-truncated": (lambda b: b[:len(b) // 3], ["cannot load this TFLite model"]),
    "tflite-is-a-keras-zip": (lambda b: b"PK\x03\x04" + bytes(200), ["is not a TFLite model"]),
    "tflite-empty": (lambda b: b"", ["is not a TFLite model"]),
}


@pytest.mark.parametrize("command", ["inspect", "evaluate"])
@pytest.mark.parametrize("case", sorted(TFLITE_CASES))
def test_corrupt_or_foreign_tflite(case, command, tflite_bytes, files, tmp_path, capsys):
    make, words = TFLITE_CASES[case]
    path = tmp_path / "model.tflite"
    path.write_bytes(make(tflite_bytes))
    args = [command, str(path)] + ([str(files / "data.npz"), "--runs", "0"] if command == "evaluate" else [])
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)
