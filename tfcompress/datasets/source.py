"""A data set as a run reads it: named splits, from arrays, an image folder, TFRecord files or ``tf.data``.

``open_data(data)`` accepts what a user has:

* a dict of NumPy arrays (``x_train, y_train, x_val, y_val``, optional ``x_test, y_test``) or an ``.npz`` path;
* an image folder path (``tfcompress.datasets.folder``), or ``{"folder": path, "scale": ..., "offset": ...}``;
* ``{"tfrecord": {"train": pattern, "val": pattern, "test": pattern}, "image_key": ..., "label_key": ...,
  "encoding": ..., "shape": ..., "dtype": ..., "scale": ..., "offset": ...}`` (``tfcompress.datasets.records``);
* in Python, ``{"train": tf.data.Dataset, "val": ..., "test": ...}`` of ``(x, y)`` pairs.

Folders and TFRecord files are checked when opened (before the teacher is loaded); their images are sized to
the model when the source is bound to it (``bind``): resized to its input height and width, given its channels,
and mapped to ``pixel * scale + offset`` (as Keras's ``Rescaling(scale, offset)``): ``scale: "auto"`` (the
default) keeps pixel values 0-255 when the teacher begins with a ``Rescaling`` layer (a model trained on
``image_dataset_from_directory`` batches) and divides by 255 otherwise; ``offset`` defaults to 0 (``scale:
0.0078431, offset: -1`` gives the [-1, 1] of MobileNet's ``preprocess_input``).
"""

import hashlib
import os

import numpy as np

from tfcompress.datasets.split import ArraySplit
from tfcompress.errors import ConfigError, DataError

SPLIT_NAMES = ("train", "val", "test")
TFRECORD_KEYS = ("tfrecord", "image_key", "label_key", "encoding", "shape", "dtype", "scale", "offset")
FOLDER_KEYS = ("folder", "scale", "offset")


class DataSource:
    """Named splits (``train``, ``val``, optional ``test``) and what a run asks of them.

    Args:
        splits: ``{name: Split}``; None until ``bind`` builds them (folders, TFRecord, datasets).
        description: how messages and the report name the data.
        build: function ``(input_shape, (scale, offset)) -> {name: Split}`` for a source sized by ``bind``.
            Defaults to None.
        classes: class names (an image folder's), or None. Defaults to None.
        scale: pixel scale of image sources (a number or "auto"), None for others. Defaults to None.
        offset: added to every scaled pixel value. Defaults to 0.
        arrays: the dict of arrays of an array source (kept for code that takes arrays). Defaults to None.
    """

    def __init__(self, splits, description, build=None, classes=None, scale=None, arrays=None, offset=0.0):
        self.splits = splits
        self.description = description
        self._build = build
        self.classes = classes
        self.scale = scale
        self.offset = float(offset)
        self.arrays = arrays
        self._calibration = {}

    # -- building
    def bind(self, input_shape, teacher=None):
        """Size the samples to a model's input (image sources) and return ``self``; arrays are left as they are.

        Raises:
            DataError: a user dataset whose inputs do not fit ``input_shape``.
        """
        if self._build is not None and (self.splits is None or self._bound != tuple(input_shape)):
            scale = self.scale
            if scale == "auto":
                scale = 1.0 if begins_with_rescaling(teacher) else 1.0 / 255.0
                self.scale_used = scale
            self.splits = self._build(tuple(input_shape), (scale, self.offset))
            self._bound = tuple(input_shape)
            self._calibration = {}
        return self

    _bound = None
    scale_used = None

    def _need_splits(self):
        if self.splits is None:
            raise ConfigError(f"{self.description}: the samples are sized to the model first; call "
                              "source.bind(model.input_shape[1:], teacher).")
        return self.splits

    # -- access
    def __contains__(self, name):
        return name in (self.splits if self.splits is not None else self._names)

    _names = ()

    def split(self, name):
        """The ``Split`` named ``name``; a ``DataError`` naming the splits there are when it is missing."""
        splits = self._need_splits()
        if name not in splits:
            raise DataError(f"{self.description} has no {name} split (it has {sorted(splits)}).")
        return splits[name]

    @property
    def streamed(self):
        return any(s.streamed for s in self._need_splits().values())

    @property
    def eval_name(self):
        """The held-out split measurements use: ``"test"`` if there is one, else ``"val"``."""
        return "test" if "test" in self else "val"

    @property
    def input_shape(self):
        return self.split("val").sample_shape

    @property
    def num_classes(self):
        if self.classes is not None:
            return len(self.classes)
        from tfcompress.data import num_classes_of

        return num_classes_of(self.split("val").labels)

    def calibration_inputs(self, num_samples):
        """The inputs calibrating int8 ranges: ``tfcompress.data.calibration_rows`` of the training split (or
        of the validation split without one), read once per run and kept."""
        from tfcompress.data import calibration_rows

        if num_samples not in self._calibration:
            split = self.split("train" if "train" in self else "val")
            self._calibration[num_samples] = split.rows(calibration_rows(split.size, num_samples))
        return self._calibration[num_samples]

    def fingerprint(self):
        """A digest of every split's samples (a resumed run checks it is given the same data)."""
        digest = hashlib.blake2b(digest_size=16)
        for name in sorted(self._need_splits()):
            digest.update(f"{name}:{self.splits[name].fingerprint()}".encode())
        return digest.hexdigest()

    def check(self, input_shape=None, num_classes=None):
        """Sample shapes and label ranges against a model; one-line errors naming the split."""
        from tfcompress.data import check_dataset, check_labels
        from tfcompress.errors import ShapeError

        if self.arrays is not None:
            check_dataset(self.arrays, source=self.description, input_shape=input_shape, num_classes=num_classes,
                          require_train=False)
            return
        if self.classes is not None and num_classes is not None and len(self.classes) != num_classes:
            raise DataError(f"{self.description} has {len(self.classes)} classes ({', '.join(self.classes[:5])}"
                            f"{'...' if len(self.classes) > 5 else ''}) but the teacher predicts {num_classes}; "
                            "give a folder with the teacher's classes.")
        for name, split in self._need_splits().items():
            if input_shape is not None and tuple(split.sample_shape) != tuple(input_shape):
                raise ShapeError(f"{self.description}:{name}: each input has shape {tuple(split.sample_shape)} but "
                                 f"the model expects {tuple(input_shape)}.")
            check_labels(split.labels, name=f"{self.description}:{name}", num_classes=num_classes)

    def __repr__(self):
        return f"DataSource({self.description!r}, splits={sorted(self.splits or self._names)})"


def begins_with_rescaling(model):
    """Whether ``model`` rescales its inputs itself (a ``Rescaling`` layer among its first layers)."""
    layers = list(getattr(model, "layers", []) or [])[:4]
    for layer in layers:
        if type(layer).__name__ == "Rescaling":
            return True
        if hasattr(layer, "layers") and begins_with_rescaling(layer):
            return True
    return False


def from_arrays(data, description="data"):
    """An array ``DataSource`` from a checked dict ``{x_train, y_train, x_val, y_val[, x_test, y_test]}``."""
    splits = {name: ArraySplit(name, data[f"x_{name}"], data[f"y_{name}"], source=description)
              for name in SPLIT_NAMES if f"x_{name}" in data and f"y_{name}" in data}
    return DataSource(splits, description, arrays=data)


def open_data(data, require_train=False):
    """A ``DataSource`` from what a user gives (see the module docstring), checked as far as it can be before a
    model is known.

    Raises:
        DataError, ConfigError: one line naming the problem and the fix.
    """
    from tfcompress.data import check_dataset, load_npz

    if isinstance(data, DataSource):
        return data
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if os.path.isdir(path):
            return open_folder(path)
        return from_arrays(load_npz(path, require_train=require_train), description=path)
    if isinstance(data, dict) and ("folder" in data or "path" in data):
        unknown = sorted(set(data) - set(FOLDER_KEYS) - {"path"})
        if unknown:
            raise ConfigError(f"data: unknown keys {unknown} for an image folder; known: {', '.join(FOLDER_KEYS)}.")
        return open_folder(os.fspath(data.get("folder", data.get("path"))), scale=data.get("scale", "auto"),
                           offset=data.get("offset", 0.0))
    if isinstance(data, dict) and "tfrecord" in data:
        return open_tfrecords(data)
    if isinstance(data, dict) and any(_is_dataset(v) for v in data.values()):
        return open_datasets(data)
    if isinstance(data, dict):
        check_dataset(data, require_train=require_train)
        return from_arrays(data)
    raise ConfigError(f"data must be an .npz path, an image folder, a tfrecord spec or a dict of arrays or "
                      f"tf.data.Datasets; received {type(data).__name__}.")


def open_folder(path, scale="auto", offset=0.0):
    """An image folder's source: its layout and files checked now, its images sized at ``bind``."""
    from tfcompress.datasets.folder import folder_splits, scan_folder

    _check_scale(scale, offset)
    found, classes = scan_folder(path)
    source = DataSource(None, path, build=lambda shape, s: folder_splits(path, _image_shape(shape, path), s)[0],
                        classes=classes, scale=scale, offset=offset)
    source._names = tuple(found)
    return source


def open_tfrecords(spec):
    """TFRecord splits (``tfcompress.datasets.records``) from a spec dict."""
    from tfcompress.datasets.records import RecordSpec, record_files, record_splits

    unknown = sorted(set(spec) - set(TFRECORD_KEYS))
    if unknown:
        raise ConfigError(f"data: unknown tfrecord keys {unknown}; known: {', '.join(TFRECORD_KEYS)}.")
    patterns = spec["tfrecord"]
    if not isinstance(patterns, dict) or "val" not in patterns or set(patterns) - set(SPLIT_NAMES):
        raise ConfigError("data: tfrecord must map splits to file patterns, e.g. {train: 'data/train-*.tfrecord', "
                          "val: 'data/val-*.tfrecord'} (train, val, optional test).")
    for name, pattern in patterns.items():
        record_files(pattern, name)  # missing files are named before the teacher is loaded
    record = RecordSpec(**{k: spec[k] for k in ("image_key", "label_key", "encoding", "shape", "dtype") if k in spec})
    scale, offset = spec.get("scale", "auto" if record.encoding == "image" else 1.0), spec.get("offset", 0.0)
    _check_scale(scale, offset)
    source = DataSource(None, f"tfrecord {patterns['val']}", build=lambda shape, s: record_splits(patterns, record,
                                                                                                    shape, s),
                        scale=scale, offset=offset)
    source._names = tuple(patterns)
    return source


def open_datasets(datasets):
    """A user's ``{split: tf.data.Dataset}``, wrapped at ``bind`` (batched datasets are unbatched)."""
    from tfcompress.datasets.records import dataset_splits

    unknown = sorted(set(datasets) - set(SPLIT_NAMES))
    if unknown or "val" not in datasets:
        raise ConfigError(f"give tf.data datasets as {{'train': ..., 'val': ..., 'test': ...}} (val required); "
                          f"received keys {sorted(datasets)}.")
    source = DataSource(None, "tf.data datasets", build=lambda shape, s: dataset_splits(datasets, shape), scale=1.0)
    source._names = tuple(datasets)
    return source


def _image_shape(shape, path):
    if len(shape) == 3 and any(d is None for d in shape):
        raise DataError(f"{path} holds images, but the model's input {tuple(shape)} has no fixed size to resize them "
                        "to; build the teacher with a fixed input shape, e.g. keras.Input((224, 224, 3)).")
    if len(shape) != 3 or shape[-1] not in (1, 3, 4):
        raise DataError(f"{path} holds images, but the model takes inputs of shape {tuple(shape)}; an image model "
                        "takes (height, width, 1, 3 or 4 channels).")
    return shape


def _check_scale(scale, offset=0.0):
    if scale != "auto" and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0):
        raise ConfigError(f"data: scale must be 'auto' or a number > 0 (e.g. 0.00392156 for 1/255), received "
                          f"{scale!r}.")
    if isinstance(offset, bool) or not isinstance(offset, (int, float)):
        raise ConfigError(f"data: offset must be a number (e.g. -1 with scale 0.0078431 for [-1, 1]), received "
                          f"{offset!r}.")


def _is_dataset(value):
    from tfcompress._keras import tf

    return isinstance(value, tf.data.Dataset)


def as_source(data):
    """``data`` as a bound ``DataSource``: a source is returned as it is, a dict of arrays is wrapped."""
    if isinstance(data, DataSource):
        return data
    return from_arrays(data)


__all__ = ["DataSource", "open_data", "open_folder", "open_tfrecords", "open_datasets", "from_arrays", "as_source",
           "begins_with_rescaling"]
