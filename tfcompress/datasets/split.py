"""One split of a data set (train, val or test), whether it is held in arrays or streamed from disk.

Every stage reads data through a ``Split``: its size, its labels (small: one id per sample), a ``tf.data``
pipeline of batches for Keras (``dataset``), NumPy batches in order (``numpy_batches``) and a few chosen rows
(``rows``, for int8 calibration and scans). ``ArraySplit`` holds NumPy arrays (an ``.npz`` or a dict); a
``StreamSplit`` reads its samples from a ``tf.data`` pipeline each time and never holds them all
(``tfcompress.datasets.folder`` for image folders, ``tfcompress.datasets.records`` for TFRecord files, and a
user's own ``tf.data.Dataset``).

A split can carry *targets*: one row per sample (the teacher's logits, ``tfcompress.distill.cache``), gathered
by sample index as the batches are read, so that a shuffled stream still pairs each sample with its row.
"""

import hashlib

import numpy as np

from tfcompress.errors import DataError

#: Samples per batch when a split is read for inference (teacher outputs, accuracy).
PREDICT_BATCH = 256
#: Shuffle buffer of a stream that cannot be shuffled by index (TFRecord files, a user's dataset).
SHUFFLE_BUFFER = 4096


class Split:
    """The interface every split offers (see the module docstring).

    Attributes:
        name: ``"train"``, ``"val"`` or ``"test"``.
        source: how messages name where the split comes from (a path).
        streamed: False for arrays in memory, True for samples read from disk on every pass.
    """

    streamed = True

    def __init__(self, name, source):
        self.name = name
        self.source = source

    # -- what subclasses give
    @property
    def size(self):
        raise NotImplementedError

    @property
    def labels(self):
        """All labels, ``[n]`` class ids or ``[n, C]`` one-hot rows (read once, kept: they are small)."""
        raise NotImplementedError

    @property
    def sample_shape(self):
        raise NotImplementedError

    def indexed(self, shuffle=False, seed=None):
        """Unbatched ``(index, x, y)`` elements as a ``tf.data.Dataset``, in order or shuffled."""
        raise NotImplementedError

    def fingerprint(self):
        """A short digest that changes when the split's samples change (keys the on-disk teacher outputs)."""
        raise NotImplementedError

    # -- shared
    def __len__(self):
        return self.size

    def dataset(self, batch_size, shuffle=False, seed=None, targets=None, map_fn=None, batch_fn=None):
        """Batches ``(x, y)`` for Keras, prefetched.

        Args:
            batch_size: samples per batch.
            shuffle: shuffle every epoch (by index when the split allows it). Defaults to False.
            seed: shuffle seed. Defaults to None.
            targets: ``[n, ...]`` rows (an array or a memory-mapped ``.npy``), one per sample; the labels then
                become ``{"labels": y, TEACHER_KEY: row}``, the form the ``Distiller`` reads cached teacher
                logits in (``tfcompress.distill.distiller.TEACHER_KEY``). Defaults to None.
            map_fn: applied to each ``(x, y)`` sample before batching (augmentation). Defaults to None.
            batch_fn: applied to each ``(x, y)`` batch (e.g. mixup). Defaults to None.
        """
        from tfcompress._keras import tf

        ds = self.indexed(shuffle=shuffle, seed=seed)
        if map_fn is not None:
            ds = ds.map(lambda i, x, y: (i,) + tuple(map_fn(x, y)), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size)
        if targets is None:
            ds = ds.map(lambda i, x, y: (x, y))
        else:
            from tfcompress.distill.distiller import TEACHER_KEY

            rows = _gather(targets, tf)
            ds = ds.map(lambda i, x, y: (x, {"labels": y, TEACHER_KEY: rows(i)}))
        if batch_fn is not None:
            ds = ds.map(batch_fn, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def inputs(self, batch_size=PREDICT_BATCH):
        """The inputs alone, batched in order (for ``model.predict``)."""
        from tfcompress._keras import tf

        return self.indexed().map(lambda i, x, y: x).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def numpy_batches(self, batch_size=PREDICT_BATCH, limit=None):
        """``(x, y)`` NumPy batches in order, at most ``limit`` of them."""
        for n, (x, y) in enumerate(self.dataset(batch_size).as_numpy_iterator()):
            if limit is not None and n >= limit:
                return
            yield x, y

    def rows(self, rows):
        """The inputs of the given sample indices, as one NumPy array (in index order)."""
        wanted = np.arange(self.size)[rows] if isinstance(rows, slice) else np.asarray(rows)
        keep = np.zeros(self.size, dtype=bool)
        keep[wanted] = True
        found = {}
        for i, x, _ in self.indexed().as_numpy_iterator():
            if keep[i]:
                found[int(i)] = x
                if len(found) == len(wanted):
                    break
        return np.stack([found[int(i)] for i in np.sort(wanted)])

    def head(self, n):
        """The first ``n`` samples as NumPy ``(x, y)``."""
        n = min(int(n), self.size)
        return self.rows(slice(0, n)), np.asarray(self.labels)[:n]

    def predict(self, model, batch_size=PREDICT_BATCH):
        """``model``'s outputs on every sample, in order."""
        return np.asarray(model.predict(self.inputs(batch_size), verbose=0))

    def accuracy(self, model, batch_size=PREDICT_BATCH):
        """Top-1 accuracy of a Keras model on this split."""
        from tfcompress.data import sparse_labels

        return float(np.mean(self.predict(model, batch_size).argmax(-1) == sparse_labels(self.labels)))

    def tflite_accuracy(self, tflite):
        """Top-1 accuracy of a ``.tflite`` classifier (bytes or path) on this split, read batch by batch."""
        from tfcompress.export.runtime import evaluate_tflite_batches

        return float(evaluate_tflite_batches(tflite, self.numpy_batches()))

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, {self.size} samples from {self.source!r})"


class ArraySplit(Split):
    """A split held in NumPy arrays ``x`` and ``y``."""

    streamed = False

    def __init__(self, name, x, y, source="data"):
        super().__init__(name, source)
        self.x = x
        self.y = y
        self._digest = None

    @property
    def size(self):
        return int(len(self.y))

    @property
    def labels(self):
        return np.asarray(self.y)

    @property
    def sample_shape(self):
        return tuple(np.shape(self.x)[1:])

    def indexed(self, shuffle=False, seed=None):
        from tfcompress._keras import tf

        x, y = np.asarray(self.x), np.asarray(self.y)
        return sample_order(len(y), shuffle, seed).map(lambda i: (i, tf.gather(x, i), tf.gather(y, i)))

    def rows(self, rows):
        return np.asarray(self.x)[rows]

    def head(self, n):
        return np.asarray(self.x)[:n], np.asarray(self.y)[:n]

    def numpy_batches(self, batch_size=PREDICT_BATCH, limit=None):
        for n, start in enumerate(range(0, self.size, batch_size)):
            if limit is not None and n >= limit:
                return
            yield self.x[start:start + batch_size], self.y[start:start + batch_size]

    def predict(self, model, batch_size=PREDICT_BATCH):
        return np.asarray(model.predict(self.x, batch_size=batch_size, verbose=0))

    def fingerprint(self):
        if self._digest is None:
            from tfcompress.distill.cache import fingerprint

            self._digest = fingerprint(np.asarray(self.x)) + fingerprint(np.asarray(self.y))[:8]
        return self._digest


class StreamSplit(Split):
    """A split read from a ``tf.data`` pipeline on every pass (see ``folder``, ``records``).

    Args:
        name: the split's name.
        elements: function returning a fresh unbatched ``tf.data.Dataset`` of ``(x, y)`` in a fixed order.
        source: how messages name it.
        identity: a string that changes when the samples change (file names, sizes and times); None hashes
            the first batch of samples and the count. Defaults to None.
    """

    def __init__(self, name, elements, source, identity=None):
        super().__init__(name, source)
        self._elements = elements
        self._identity = identity
        self._labels = None
        self._shape = None
        self._digest = None

    def _scan(self):
        """One pass over the labels: the count and every label (the inputs are read, but not kept)."""
        if self._labels is None:
            ds = self._elements()
            self._shape = tuple(int(d) for d in ds.element_spec[0].shape)
            labels = [y for y in ds.map(lambda x, y: y).batch(PREDICT_BATCH).as_numpy_iterator()]
            if not labels:
                raise DataError(f"{self.source}: the {self.name} split is empty (0 samples); give at least one.")
            self._labels = np.concatenate(labels)
        return self._labels

    @property
    def size(self):
        return int(len(self._scan()))

    @property
    def labels(self):
        return self._scan()

    @property
    def sample_shape(self):
        if self._shape is None:
            self._shape = tuple(int(d) for d in self._elements().element_spec[0].shape)
        return self._shape

    def indexed(self, shuffle=False, seed=None):
        ds = self._elements().enumerate()
        if shuffle:
            ds = ds.shuffle(min(self.size, SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
        return ds.map(lambda i, xy: (i, xy[0], xy[1]))

    def fingerprint(self):
        if self._digest is None:  # once: every fit asks the teacher cache, which keys on it
            digest = hashlib.blake2b(digest_size=16)
            digest.update(f"{self.name}:{self.size}".encode())
            if self._identity is not None:
                digest.update(self._identity.encode())
            else:
                x, y = next(self.numpy_batches(64))
                digest.update(np.ascontiguousarray(x).tobytes())
                digest.update(np.ascontiguousarray(y).tobytes())
            self._digest = digest.hexdigest()
        return self._digest


def sample_order(n, shuffle=False, seed=None):
    """Sample indices ``0..n-1`` as a ``tf.data.Dataset``, in order or in a new random order on every pass.

    The order is one permutation per pass, drawn by a NumPy generator that lives as long as the dataset (seeded by
    ``seed``, else by NumPy's global state, which ``keras.utils.set_random_seed`` sets), not a shuffle buffer: a
    buffer costs about 0.2 kB per sample (15 MB at 60,000, 125 MB at 600,000), which would grow with the data.
    """
    from tfcompress._keras import tf

    if not shuffle:
        return tf.data.Dataset.range(n)
    rng = np.random.default_rng(np.random.randint(2 ** 31) if seed is None else seed)

    def permutation(_):
        order = tf.numpy_function(lambda: rng.permutation(n).astype(np.int64), [], tf.int64)
        return tf.data.Dataset.from_tensor_slices(tf.ensure_shape(order, [n]))
    return tf.data.Dataset.range(1).flat_map(permutation)


def _gather(targets, tf):
    """A graph function from a batch of sample indices to their rows of ``targets``. A memory-mapped ``.npy``
    is read through NumPy, so only the rows of the batch are paged in from disk."""
    if isinstance(targets, np.memmap):
        width = [int(d) for d in targets.shape[1:]]

        def rows(i):
            out = tf.numpy_function(lambda idx: np.asarray(targets[idx], dtype=np.float32), [i], tf.float32)
            return tf.reshape(out, [-1] + width)
        return rows
    table = tf.constant(np.asarray(targets, dtype=np.float32))
    return lambda i: tf.gather(table, i)


__all__ = ["Split", "ArraySplit", "StreamSplit", "PREDICT_BATCH", "SHUFFLE_BUFFER"]
