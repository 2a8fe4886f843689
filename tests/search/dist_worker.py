"""One process of a distributed student search (run by test_distributed.py, not collected by pytest).

Usage: python dist_worker.py DIRECTORY OUT_JSON  (with the KERASTUNER_* variables set).
"""

import json
import os
import sys

import numpy as np

import tfcompress  # noqa: F401  (selects tf_keras first)
from tfcompress.search import search_student
from tfcompress.train import Trainer


def data(n=200, features=8, classes=3):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=2.0, size=(classes, features))
    y = rng.integers(0, classes, size=n).astype("int32")
    x = (centers[y] + rng.normal(size=(n, features))).astype("float32")
    return {"x_train": x[:140], "y_train": y[:140], "x_val": x[140:], "y_val": y[140:]}


def main(directory, out):
    trainer = Trainer(data(), batch_size=32, learning_rate=1e-2)
    result = search_student(trainer, family="mlp", max_trials=int(os.environ.get("MAX_TRIALS", "4")), epochs=1,
                            seed=2, directory=directory)
    tuner_id = os.environ["KERASTUNER_TUNER_ID"]
    if result is None:  # a worker: report which trials it ran
        record_ids = sorted(f[len("trial_"):] for f in os.listdir(os.path.join(directory, "student_search"))
                            if f.startswith("trial_") and _ran_by(directory, f, tuner_id))
        summary = {"tuner_id": tuner_id, "role": "worker", "trial_ids": record_ids}
    else:
        summary = {"tuner_id": tuner_id, "role": "chief", "trials": result.trials,
                   "best_trial_id": result.best_trial_id, "best_val_accuracy": result.best_val_accuracy}
    with open(out, "w") as fh:
        json.dump(summary, fh)


def _ran_by(directory, trial_dir, tuner_id):
    path = os.path.join(directory, "student_search", trial_dir, "candidate.json")
    if not os.path.exists(path):
        return False
    with open(path) as fh:
        return json.load(fh).get("tuner_id") == tuner_id


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
