"""Helpers of the fault tests: a tiny teacher and data set on disk, recipes, the real CLI in a subprocess."""

import os
import re
import subprocess
import sys

import numpy as np

INPUT_SHAPE = (6, 6, 1)
NUM_CLASSES = 4
STUDENT = "student: {family: cnn, filters: [4], dense_units: 8}\n"
# lines that TensorFlow's C++ logging writes to stderr whatever the Python side does
_NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IWEF]\d{4} \d\d:\d\d:\d\d|"
                         r"INFO: Created TensorFlow Lite)")


def make_data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + INPUT_SHAPE).astype("float32")
    y = ((x.mean(axis=(1, 2, 3)) > 0).astype("int32") + 2 * (x[:, 0, 0, 0] > 0)).astype("int32")
    a, b = int(n * 0.6), int(n * 0.8)
    return {"x_train": x[:a], "y_train": y[:a], "x_val": x[a:b], "y_val": y[a:b], "x_test": x[b:], "y_test": y[b:]}


def write_recipe(folder, teacher, data, output="out", stages="  - distill: {epochs: 1}\n", extra=STUDENT):
    """Write ``recipe.yaml`` into ``folder``; return its path."""
    path = os.path.join(folder, "recipe.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"teacher: {teacher}\ndata: {data}\noutput: {output}\nlatency_runs: 0\n{extra}stages:\n{stages}")
    return path


def cli_env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return env


def start_cli(args, cwd, **kwargs):
    """Start ``python -m tfcompress.cli ARGS`` (the real command) in a subprocess; return the Popen."""
    return subprocess.Popen([sys.executable, "-m", "tfcompress.cli", *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def own_lines(stderr):
    """The stderr lines written by tfcompress (TensorFlow's native log lines removed)."""
    return [line for line in stderr.splitlines() if line.strip() and not _NATIVE_LOG.match(line)]


def run_until(args, cwd, kill_when=None, timeout=600, script=None):
    """Run the CLI (or ``script`` with ``args``) and SIGKILL it on the first stdout line where ``kill_when(line)``.

    Returns:
        ``(returncode, stdout_lines, killed)``; stderr goes to ``cwd/stderr_<n>.txt``.
    """
    import signal
    import time

    command = [sys.executable, script, *args] if script else [sys.executable, "-m", "tfcompress.cli", *args]
    n = len([f for f in os.listdir(cwd) if f.startswith("stderr_")])
    with open(os.path.join(cwd, f"stderr_{n}.txt"), "w") as err:
        proc = subprocess.Popen(command, cwd=cwd, env=cli_env(), stdout=subprocess.PIPE, stderr=err, text=True)
        lines, killed, deadline = [], False, time.monotonic() + timeout
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if kill_when is not None and kill_when(line):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            if time.monotonic() > deadline:
                proc.kill()
                break
        proc.stdout.close()
        proc.wait(timeout=60)
    return proc.returncode, lines, killed


def final_like_files(folder):
    """Files under ``folder`` named like a final output (not a ``.name.xxx.tmp`` temporary), relative paths."""
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            if not name.startswith("."):
                found.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(found)


def stale_tmp_files(folder):
    return sorted(os.path.relpath(os.path.join(r, n), folder) for r, _, names in os.walk(folder) for n in names
                  if re.fullmatch(r"\..+\.tmp(\.\w+)?", n))


def check_tflite(path, x):
    """Load ``path`` in the LiteRT interpreter and run one sample; return the output."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    sample = x[:1]
    if inp["dtype"] != np.float32:
        scale, zero = inp["quantization"]
        sample = np.clip(np.round(sample / scale + zero), -128, 127).astype(inp["dtype"])
    interpreter.set_tensor(inp["index"], sample)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
