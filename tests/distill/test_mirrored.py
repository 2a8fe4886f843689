"""The Distiller under tf.distribute.MirroredStrategy on two logical CPU devices.

Logical devices must be configured before TensorFlow initialises its runtime,
so the check runs in a fresh Python process.
"""

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import tfcompress
    from tfcompress import keras, tf
    from tfcompress.distill import Distiller

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    keras.utils.set_random_seed(0)
    data = tfcompress.load_digits_data()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        teacher = tfcompress.build_mlp((8, 8, 1), 10, units=(64,))
        teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], epochs=5, verbose=0)
    with strategy.scope():
        d = Distiller(student=tfcompress.build_mlp((8, 8, 1), 10, units=(16,)), teacher=teacher)
        d.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    h = d.fit(data["x_train"], data["y_train"], epochs=4, batch_size=64, verbose=0)
    acc = d.evaluate(data["x_test"], data["y_test"], verbose=0, return_dict=True)["accuracy"]
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loss": h.history["loss"], "acc": acc}))
""")


@pytest.mark.slow  # the whole run under --strategy mirrored is in the default run (pipeline/test_devices_run.py)
def test_mirrored_strategy_two_logical_cpus():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["loss"][-1] < result["loss"][0]
    assert result["acc"] > 0.3
