"""Teacher outputs computed once per run and shared by every stage and search trial.

A ``Distiller`` given fixed arrays already predicts the teacher once per ``fit``; a run calls ``fit`` many
times (every search trial, every stage), each time on the same training and validation inputs. A
``TeacherCache`` belongs to one teacher and keys its outputs by a fingerprint of the input array, so each
split is predicted once per run. Augmented batches (a ``tf.data`` pipeline) never use it: their inputs change
every epoch, and the teacher runs on each batch.
"""

import hashlib

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

    Attributes:
        predictions: how many times the teacher was run on a whole array (a test counts them).
    """

    def __init__(self, teacher):
        self.teacher = teacher
        self._outputs = {}
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


__all__ = ["TeacherCache", "fingerprint"]
