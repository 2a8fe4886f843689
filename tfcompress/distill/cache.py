"""Teacher outputs computed once per run and shared by every stage and search trial.

A ``Distiller`` given fixed arrays already predicts the teacher once per ``fit``; a run calls ``fit`` many
times (every search trial, every stage), each time on the same training and validation inputs. A
``TeacherCache`` belongs to one teacher and keys its outputs by a fingerprint of the input array, so each
split is predicted once per run. Augmented batches (a ``tf.data`` pipeline) never use it: their inputs change
every epoch, and the teacher runs on each batch.

A streamed split (``tfcompress.datasets``: an image folder, TFRecord files) is not held in memory, and neither are
its teacher outputs: ``split_logits`` writes the teacher's logits on it, batch by batch, to an ``.npy`` file in
the cache's folder (a run's ``<output>/cache``), named by digests of the teacher's weights and of the split's
files, and reads it back memory-mapped; every later stage and trial, and a resumed run, reads that file.
"""

import hashlib
import os

import numpy as np


def fingerprint(x):
    """A short hash of an array's shape, dtype and bytes."""
    x = np.ascontiguousarray(x)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str((x.shape, x.dtype.str)).encode())
    digest.update(memoryview(x).cast("B"))
    return digest.hexdigest()


class TeacherCache:
    """Teacher logits per input array, for one teacher.

    Args:
        teacher: the teacher whose outputs are kept.
        directory: folder of the on-disk logits of streamed splits (``split_logits``); None keeps them in
            memory. Defaults to None.

    Attributes:
        predictions: how many times the teacher was run on a whole array or split (a test counts them).
    """

    def __init__(self, teacher, directory=None):
        self.teacher = teacher
        self.directory = directory
        self._outputs = {}
        self._digest = None
        self.predictions = 0

    def outputs(self, teacher, x, batch_size=256):
        """The teacher's raw outputs on ``x``, predicted on the first request only.

        A different teacher than this cache's is predicted every time (nothing is kept for it).
        """
        if teacher is not self.teacher:
            return teacher.predict(x, batch_size=batch_size, verbose=0)
        key = fingerprint(x)
        if key not in self._outputs:
            self.predictions += 1
            self._outputs[key] = np.asarray(teacher.predict(x, batch_size=batch_size, verbose=0))
        return self._outputs[key]


    def split_logits(self, split, batch_size=256):
        """The teacher's logits on every sample of a ``Split``, in order, computed on the first request only: a
        memory-mapped ``.npy`` in ``directory`` (written atomically), or an array without a directory."""
        from tfcompress.distill.checks import output_kind

        key = f"split:{split.name}:{split.fingerprint()}"
        if key in self._outputs:
            return self._outputs[key]
        probabilities = output_kind(self.teacher) == "probabilities"
        path = None
        if self.directory is not None:
            path = os.path.join(self.directory, f"teacher_{split.name}_{self.teacher_digest()}_"
                                                f"{split.fingerprint()[:16]}.npy")
            if os.path.exists(path):
                self._outputs[key] = np.load(path, mmap_mode="r", allow_pickle=False)
                return self._outputs[key]
        self.predictions += 1
        width = int(self.teacher.output_shape[-1])
        if path is None:
            out = np.empty((split.size, width), dtype="float32")
            _fill(out, self.teacher, split, batch_size, probabilities)
        else:
            from tfcompress.fileio import atomic_path

            os.makedirs(self.directory, exist_ok=True)
            with atomic_path(path, suffix=".npy") as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype="float32", shape=(split.size, width))
                _fill(out, self.teacher, split, batch_size, probabilities)
                out.flush()
                del out
            out = np.load(path, mmap_mode="r", allow_pickle=False)
        self._outputs[key] = out
        return out

    def teacher_digest(self):
        """A short digest of the teacher's weights (names the on-disk files: another teacher, other files)."""
        if self._digest is None:
            digest = hashlib.blake2b(digest_size=8)
            digest.update(str(getattr(self.teacher, "name", "")).encode())
            for w in self.teacher.get_weights():
                digest.update(np.ascontiguousarray(w).tobytes())
            black_box = getattr(self.teacher, "black_box", None)
            if black_box:
                digest.update(str(black_box.get("digest")).encode())
            self._digest = digest.hexdigest()
        return self._digest


def _fill(out, teacher, split, batch_size, probabilities):
    """Write the teacher's logits on ``split`` into ``out``, one batch at a time."""
    start = 0
    for x in split.inputs(batch_size):
        y = np.asarray(teacher.predict_on_batch(x), dtype="float32")
        if probabilities:
            y = np.log(np.clip(y, 1e-30, 1.0))
        out[start:start + len(y)] = y
        start += len(y)


__all__ = ["TeacherCache", "fingerprint"]
