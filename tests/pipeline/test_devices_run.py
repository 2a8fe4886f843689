"""Whole runs through the CLI under ``--strategy mirrored`` (two logical CPU devices) and ``--strategy
multi_worker`` (two local worker processes). Logical devices and TF_CONFIG must be set before TensorFlow starts,
so each run is a fresh Python process."""

import json
import math
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PER_REPLICA = 16

#: Two logical CPUs (before TF initialises), then the CLI; the exit status is the process's.
MIRRORED = textwrap.dedent("""
    import sys
    import tfcompress
    from tfcompress import tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tfcompress.cli import main
    sys.exit(main(sys.argv[1:]))
""")
CLI = "import sys\nfrom tfcompress.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """The digits data as .npz and a small MLP teacher trained on it (in this process, no strategy)."""
    import tfcompress
    from tfcompress import keras

    root = tmp_path_factory.mktemp("devices")
    data = tfcompress.load_digits_data()
    keras.utils.set_random_seed(0)
    teacher = tfcompress.build_mlp(data["x_train"].shape[1:], 10, units=(32,), name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    teacher.fit(data["x_train"], data["y_train"], epochs=6, verbose=0)
    teacher.save(str(root / "teacher.keras"))
    np.savez(root / "digits.npz", **data)
    return root, len(data["x_train"])


def _recipe(root, output, **top):
    lines = [f"teacher: {root / 'teacher.keras'}", f"data: {root / 'digits.npz'}", f"output: {output}",
             f"batch_size: {PER_REPLICA}", "latency_runs: 0", "student: {family: mlp, units: [16]}"]
    lines += [f"{k}: {v}" for k, v in top.items()]
    lines += ["stages:", "  - distill: {epochs: 2, augment: null, restore_best: false}", "  - export: {format: int8}"]
    path = root / f"{os.path.basename(str(output))}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_mirrored_two_logical_cpus(digits_files):
    root, n_train = digits_files
    out = root / "out_mirrored"
    recipe = _recipe(root, out)
    proc = subprocess.run([sys.executable, "-c", MIRRORED, "run", recipe, "--strategy", "mirrored", "--quiet"],
                          capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    devices = report["devices"]
    assert devices["strategy"] == "mirrored" and devices["replicas"] == 2 and devices["workers"] == 1
    assert devices["batch_size_per_replica"] == PER_REPLICA
    assert devices["global_batch_size"] == 2 * PER_REPLICA
    # what the distillation's fit ran: steps of the global batch, not of the per-replica one
    assert devices["steps_per_epoch"] == [math.ceil(n_train / (2 * PER_REPLICA))]
    model = (out / "model.tflite").read_bytes()
    assert len(model) > 1000 and report["summary"]["final_format"] == "int8"


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow  # 30 s alone on 2 cores, over a minute when the cores are shared
def test_cli_multi_worker_two_local_workers(digits_files):
    root, n_train = digits_files
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    outs = [root / f"out_worker{i}" for i in range(2)]
    procs = []
    for i, out in enumerate(outs):  # each worker its own recipe only for its output folder
        recipe = _recipe(root, out)
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen([sys.executable, "-c", CLI, "run", recipe, "--strategy", "multi_worker",
                                       "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=_env(TF_CONFIG=tf_config)))
    results = []
    try:
        for proc in procs:
            results.append((proc.wait(timeout=240), proc.stderr.read()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [code for code, _ in results] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    report = json.loads((outs[0] / "report.json").read_text())
    assert report["devices"]["strategy"] == "multi_worker"
    assert report["devices"]["workers"] == 2 and report["devices"]["replicas"] == 2
    assert report["devices"]["global_batch_size"] == 2 * PER_REPLICA
    assert (outs[0] / "model.tflite").is_file()
    assert not os.path.exists(outs[1]), "a non-chief worker wrote into its output folder"
