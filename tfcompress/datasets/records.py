"""TFRecord files of ``tf.train.Example`` records, read as streams, and a user's own ``tf.data.Dataset``.

The feature spec names two features of each record:

* the image (``image_key``, default ``"image"``): an encoded PNG/JPEG/GIF/BMP (``encoding: image``, resized to
  the teacher's input like an image folder), the raw bytes of a ``shape`` array of ``dtype``
  (``encoding: raw``), or a float list of ``prod(shape)`` values (``encoding: float``);
* the label (``label_key``, default ``"label"``): an int64 class id.

Each split is a file pattern (or a list of files) read in order. The first record of every split is parsed
before any work, so a wrong key or encoding is named at once.
"""

import glob
import hashlib
import os

import numpy as np

from tfcompress.datasets.split import StreamSplit
from tfcompress.errors import ConfigError, DataError

ENCODINGS = ("image", "raw", "float")


class RecordSpec:
    """How to read one record (see the module docstring).

    Args:
        image_key, label_key: the feature names. Default "image" and "label".
        encoding: "image", "raw" or "float". Defaults to "image".
        shape: the stored array's shape, needed for "raw" and "float". Defaults to None.
        dtype: the dtype of "raw" bytes. Defaults to "uint8".
    """

    def __init__(self, image_key="image", label_key="label", encoding="image", shape=None, dtype="uint8"):
        if encoding not in ENCODINGS:
            raise ConfigError(f"tfrecord encoding must be one of {list(ENCODINGS)}, received {encoding!r}.")
        if encoding != "image" and not shape:
            raise ConfigError(f"tfrecord encoding {encoding!r} needs `shape:` (the stored array's shape, e.g. "
                              "[32, 32, 3]).")
        self.image_key, self.label_key = str(image_key), str(label_key)
        self.encoding = encoding
        self.shape = None if shape is None else tuple(int(d) for d in shape)
        self.dtype = str(dtype)

    def parser(self, shape, rescale):
        """A function from one serialized record to ``(image [shape] float32, label int32)``; values become
        ``value * scale + offset`` (``rescale``)."""
        from tfcompress._keras import tf

        features = {self.label_key: tf.io.FixedLenFeature([], tf.int64)}
        if self.encoding == "float":
            features[self.image_key] = tf.io.FixedLenFeature([int(np.prod(self.shape))], tf.float32)
        else:
            features[self.image_key] = tf.io.FixedLenFeature([], tf.string)
        scale, offset = (float(v) for v in rescale)
        height, width, channels = (tuple(shape) + (None, None, None))[:3]
        image_like = len(shape) == 3

        def parse(record):
            ex = tf.io.parse_single_example(record, features)
            value = ex[self.image_key]
            if self.encoding == "image":
                x = tf.io.decode_image(value, channels=channels, expand_animations=False)
            elif self.encoding == "raw":
                x = tf.reshape(tf.io.decode_raw(value, tf.dtypes.as_dtype(self.dtype)), self.shape)
            else:
                x = tf.reshape(value, self.shape)
            x = tf.cast(x, tf.float32)
            if image_like and self.encoding == "image":
                x = tf.image.resize(x, (height, width), method="bilinear")
            return tf.ensure_shape(x * scale + offset, shape), tf.cast(ex[self.label_key], tf.int32)
        return parse

    def describe(self):
        return f"{self.image_key}:{self.label_key}:{self.encoding}:{self.shape}:{self.dtype}"


def record_files(pattern, split):
    """The files of one split: a glob pattern or a list of paths; a one-line error when none exist."""
    files = sorted(glob.glob(os.fspath(pattern))) if isinstance(pattern, (str, os.PathLike)) \
        else [os.fspath(p) for p in pattern]
    missing = [f for f in files if not os.path.isfile(f)]
    if not files or missing:
        raise DataError(f"tfrecord {split} split: no file matches {os.fspath(missing[0]) if missing else pattern!r}; "
                        "give a glob pattern or a list of existing .tfrecord files.")
    return files


def record_splits(patterns, spec, shape, rescale):
    """A ``StreamSplit`` per split of TFRecord files (``patterns``: ``{split: pattern or list}``), each checked
    by parsing its first record."""
    from tfcompress._keras import tf

    parse = spec.parser(tuple(shape), rescale)
    out = {}
    for name, pattern in patterns.items():
        files = record_files(pattern, name)
        digest = hashlib.blake2b(digest_size=16)
        digest.update(spec.describe().encode() + f"{tuple(shape)}:{tuple(rescale)}".encode())
        for f in files:
            digest.update(f"{f}:{os.path.getsize(f)}:{os.stat(f).st_mtime_ns}".encode())

        def elements(files=files):
            return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        try:
            next(iter(elements().take(1)))
        except StopIteration:
            raise DataError(f"tfrecord {name} split ({files[0]}...) holds no records; give at least one.") from None
        except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as exc:
            raise DataError(f"tfrecord {name} split: the first record of {files[0]} does not fit the feature spec "
                            f"(image_key {spec.image_key!r}, label_key {spec.label_key!r}, encoding "
                            f"{spec.encoding!r}): {_first_line(exc)}") from None
        out[name] = StreamSplit(name, elements, files[0], identity=digest.hexdigest())
    return out


def dataset_splits(datasets, input_shape):
    """A ``StreamSplit`` per user ``tf.data.Dataset`` of ``(x, y)``, batched or not (a dataset whose inputs have
    one more dimension than the model's input is unbatched)."""
    out = {}
    for name, ds in datasets.items():
        spec = ds.element_spec
        if not (isinstance(spec, tuple) and len(spec) == 2):
            raise DataError(f"the {name} dataset must give (inputs, labels) pairs; its elements are {spec}.")
        rank = len(spec[0].shape)
        if rank == len(input_shape) + 1:
            ds = ds.unbatch()
        got = tuple(ds.element_spec[0].shape)
        if len(got) != len(input_shape) or any(g is not None and g != e for g, e in zip(got, input_shape)):
            raise DataError(f"the {name} dataset gives inputs of shape {got} but the model expects "
                            f"{tuple(input_shape)}; map it to that shape first.")
        out[name] = StreamSplit(name, _fixed_shape(ds, input_shape), f"tf.data.Dataset ({name})")
    return out


def _fixed_shape(ds, input_shape):
    from tfcompress._keras import tf

    mapped = ds.map(lambda x, y: (tf.ensure_shape(tf.cast(x, tf.float32), input_shape), y))
    return lambda: mapped


def _first_line(exc):
    text = str(getattr(exc, "message", exc)).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


__all__ = ["RecordSpec", "record_splits", "dataset_splits", "record_files", "ENCODINGS"]
