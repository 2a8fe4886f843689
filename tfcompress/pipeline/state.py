"""Resumable progress of a pipeline run, kept apart from its configuration.

After each finished stage the run saves the model (``state/stage_<i>.keras``, or
``.h5`` for TFMOT-wrapped models such as QAT ones, see ``model_suffix``)
and ``state/state.json`` (the recipe hash, the finished stages and their
reports). A re-run of the same recipe skips the finished stages; a different
recipe starts over.
"""

import hashlib
import json
import os

from tfcompress.errors import ModelError
from tfcompress.fileio import load_model, save_model, write_json

STATE_VERSION = 1


def recipe_hash(config):
    """A short stable hash of a recipe dict (the output folder excluded: moving it changes nothing)."""
    relevant = {k: v for k, v in config.items() if k != "output"}
    text = json.dumps(relevant, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fingerprint(*array_lists):
    """A short hash of the bytes of lists of arrays (teacher weights, data), so that a re-run with a retrained
    teacher or new data at the same paths starts over instead of resuming stale stages."""
    import numpy as np

    digest = hashlib.sha256()
    for arrays in array_lists:
        for a in arrays:
            a = np.ascontiguousarray(a)
            digest.update(str((a.dtype, a.shape)).encode())
            digest.update(a.tobytes())
    return digest.hexdigest()[:16]


class RunState:
    """Progress of one run in ``<output>/state/``.

    Args:
        output_dir: the run's output folder.
        digest: the recipe hash of this run.
    """

    def __init__(self, output_dir, digest):
        self.dir = os.path.join(output_dir, "state")
        self.path = os.path.join(self.dir, "state.json")
        self.digest = digest
        self.finished = []  # dicts: index, key, report, after, elapsed_s, model
        self.teacher = None  # teacher measurements
        self.restarted = False  # a state of another recipe was found and discarded

    def load(self):
        """Read the saved state; return the number of finished stages that can be skipped."""
        if not os.path.exists(self.path):
            return 0
        try:
            with open(self.path, encoding="utf-8") as f:
                saved = json.load(f)
        except (OSError, ValueError):
            self.restarted = True
            return 0
        if saved.get("recipe_hash") != self.digest or saved.get("version") != STATE_VERSION:
            self.restarted = True
            return 0
        self.finished = []
        for i, stage in enumerate(saved.get("finished", [])):  # the unbroken prefix of stages whose model exists
            if stage.get("index", i) != i or not os.path.exists(stage.get("model", "")):
                break
            self.finished.append(stage)
        self.teacher = saved.get("teacher")
        return len(self.finished)

    def save(self):
        write_json(self.path, {"version": STATE_VERSION, "recipe_hash": self.digest, "teacher": self.teacher,
                               "finished": self.finished})

    def record_teacher(self, metrics):
        self.teacher = metrics
        self.save()

    def record_stage(self, index, key, model, report, before, after, elapsed_s):
        """Save the model after stage ``index`` and add the stage to the finished list."""
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, f"stage_{index + 1}{model_suffix(model)}")
        save_model(model, path)
        self.finished = [s for s in self.finished if s["index"] < index]
        self.finished.append({"index": index, "key": key, "report": report, "before": before, "after": after,
                              "elapsed_s": elapsed_s, "model": path})
        self.save()

    def last_model(self):
        """The model saved after the last finished stage (None if none finished)."""
        if not self.finished:
            return None
        return load_model(self.finished[-1]["model"])


def model_suffix(model):
    """``.h5`` for models holding TFMOT wrappers (a QAT model saved as ``.keras`` cannot be loaded again with
    tf_keras 2.21 / TFMOT 0.8.1: "Layer 'quantize_layer' expected 5 variables, but received 3"), else ``.keras``."""
    for layer in model.submodules:
        if type(layer).__module__.startswith("tensorflow_model_optimization"):
            return ".h5"
    return ".keras"


__all__ = ["RunState", "recipe_hash", "fingerprint"]
