"""Loading and checking classification data.

A data set is a ``dict`` of NumPy arrays with the keys ``x_train``,
``y_train``, ``x_val``, ``y_val`` and optionally ``x_test``, ``y_test``: the
same keys an ``.npz`` file given to ``tfcompress run`` holds.
"""

import os
import zipfile

import numpy as np

from tfcompress.errors import DataError, ShapeError
from tfcompress.synthetic import make_shapes_data  # noqa: F401  (re-exported: a generated image task)

REQUIRED_KEYS = ("x_train", "y_train", "x_val", "y_val")
OPTIONAL_KEYS = ("x_test", "y_test")


def load_digits_data(image=True, seed=0, val_fraction=0.2, test_fraction=0.25, image_size=None, channels=None):
    """scikit-learn's 1,797 handwritten 8x8 digits, split and scaled to [0, 1].

    The data ship inside scikit-learn, so nothing is downloaded.

    Args:
        image: if True, inputs are ``[n, 8, 8, 1]`` images; else ``[n, 64]`` vectors. Defaults to True.
        seed: seed of the stratified split. Defaults to 0.
        val_fraction: share of all samples used for validation. Defaults to 0.2.
        test_fraction: share of all samples held out for the test. Defaults to 0.25.
        image_size: resize the images to this many pixels a side (bilinear), e.g. 32 for MobileNet-sized
            inputs; None keeps 8. Defaults to None.
        channels: repeat the grey channel to this many (3 for RGB models); None keeps 1. Defaults to None.

    Returns:
        A dict with ``x_train, y_train, x_val, y_val, x_test, y_test`` (float32 inputs, int32 labels).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    if image:
        x = x.reshape(-1, 8, 8, 1)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    val_share = val_fraction / (1.0 - test_fraction)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_share, random_state=seed, stratify=y_rest
    )
    out = {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val, "x_test": x_test, "y_test": y_test}
    if image and (image_size is not None or channels is not None):
        from tfcompress.synthetic import resize_images

        for key in ("x_train", "x_val", "x_test"):
            out[key] = resize_images(out[key], image_size or 8, channels)
    return out


def make_tabular_data(n_samples=3000, n_features=24, n_classes=5, seed=0):
    """A synthetic tabular classification task (``sklearn.datasets.make_classification``), standardised."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=n_features // 2, n_redundant=n_features // 4,
        n_classes=n_classes, n_clusters_per_class=2, class_sep=1.0, flip_y=0.02, random_state=seed,
    )
    x = x.astype("float32")
    y = y.astype("int32")
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2, random_state=seed, stratify=y_rest)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    norm = lambda a: ((a - mean) / std).astype("float32")  # noqa: E731
    return {"x_train": norm(x_train), "y_train": y_train, "x_val": norm(x_val), "y_val": y_val,
            "x_test": norm(x_test), "y_test": y_test}


def load_npz(path, require_train=True):
    """Read a data set from an ``.npz`` file and check it (see ``check_dataset``).

    Raises:
        DataError: the file is missing, unreadable, lacks a required array, or holds bad values.
    """
    if not os.path.exists(path):
        raise DataError(f"data file {path!r} does not exist. Give an .npz with arrays {', '.join(REQUIRED_KEYS)}.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"data file {path!r} is not a readable .npz archive ({exc}). "
                        "Write it with numpy.savez(path, x_train=..., y_train=..., x_val=..., y_val=...).") from None
    check_dataset(data, source=path, require_train=require_train)
    return data


def save_npz(path, data):
    """Write a data set to ``path`` atomically."""
    from tfcompress.fileio import atomic_path

    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **data)


def check_dataset(data, source="data", num_classes=None, input_shape=None, require_train=True):
    """Check a data dict: required arrays present, matching lengths, finite inputs, integer-like labels.

    Args:
        data: dict of arrays.
        source: how to name the data in messages. Defaults to "data".
        num_classes: if given, labels must be in ``[0, num_classes)`` (or one-hot of that width).
        input_shape: if given, each sample's shape must equal it (batch dimension excluded).
        require_train: whether ``x_train``/``y_train`` must be present (False for data-free work, which
            needs only a labelled evaluation set). Defaults to True.

    Raises:
        DataError, ShapeError: naming the array and what to do.
    """
    required = REQUIRED_KEYS if require_train else tuple(k for k in REQUIRED_KEYS if not k.endswith("_train"))
    missing = [k for k in required if k not in data]
    if missing:
        raise DataError(f"{source} lacks the arrays {missing}; it has {sorted(data)}. "
                        f"Required: {', '.join(REQUIRED_KEYS)} (optional: {', '.join(OPTIONAL_KEYS)}).")
    for split in ("train", "val", "test"):
        xk, yk = f"x_{split}", f"y_{split}"
        if xk not in data and yk not in data:
            continue
        if (xk in data) != (yk in data):
            raise DataError(f"{source} has only one of {xk}/{yk}; give both or neither.")
        check_arrays(data[xk], data[yk], name=f"{source}:{split}", num_classes=num_classes, input_shape=input_shape)


def check_arrays(x, y, name="data", num_classes=None, input_shape=None):
    """Check one split's inputs ``x`` and labels ``y``; see ``check_dataset``."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(f"{name}: inputs and labels must be arrays of samples ([n, ...] and [n]); received shapes "
                         f"{x.shape} and {y.shape}.")
    if x.shape[0] == 0:
        raise DataError(f"{name} is empty (0 samples). Give at least one sample per split.")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"{name}: {x.shape[0]} inputs but {y.shape[0]} labels; they must have the same length.")
    if not _real(x.dtype):
        raise DataError(f"{name}: inputs must be real numbers (integer or float), received dtype {x.dtype}.")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise DataError(f"{name}: inputs hold {bad} NaN or infinite values; clean or impute them first.")
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        raise ShapeError(f"{name}: each input has shape {tuple(x.shape[1:])} but the model expects "
                         f"{tuple(input_shape)}; reshape the data or use a model built for it.")
    check_labels(y, name=name, num_classes=num_classes)


def check_labels(y, name="labels", num_classes=None):
    """Labels must be class ids (``[n]`` or ``[n, 1]`` integers) or one-hot rows (``[n, C]``)."""
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] == 0:
        raise ShapeError(f"{name}: labels must be an array of [n] class ids or [n, C] one-hot rows with n >= 1; "
                         f"received shape {y.shape}.")
    if not _real(y.dtype):
        raise DataError(f"{name}: labels must be numeric class ids, received dtype {y.dtype}.")
    if not np.all(np.isfinite(y)):
        raise DataError(f"{name}: labels hold NaN or infinite values.")
    one_hot = y.ndim == 2 and y.shape[1] > 1
    if one_hot:
        if num_classes is not None and y.shape[1] != num_classes:
            raise ShapeError(f"{name}: one-hot labels have {y.shape[1]} columns but the model has "
                             f"{num_classes} classes.")
        if not np.allclose(y.sum(axis=1), 1.0, atol=1e-3) or y.min() < 0:
            raise DataError(f"{name}: 2-D labels must be one-hot (or probability) rows that sum to 1; "
                            "for class ids give a 1-D integer array.")
        return
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise ShapeError(f"{name}: labels have shape {y.shape}; expected [n] class ids or [n, C] one-hot rows.")
    if np.any(np.round(y) != y):
        raise DataError(f"{name}: labels are not whole numbers (e.g. {y.ravel()[0]!r}); classification needs "
                        "integer class ids. Is this a regression target?")
    if y.min() < 0:
        raise DataError(f"{name}: labels hold negative class id {int(y.min())}; ids must be 0..C-1.")
    if num_classes is not None and y.max() >= num_classes:
        raise DataError(f"{name}: label {int(y.max())} is out of range for a model with {num_classes} classes "
                        f"(ids must be 0..{num_classes - 1}).")


def _real(dtype):
    """Integer or floating dtypes (not bool, complex, text, dates or objects)."""
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


#: Inputs that calibrate an int8 conversion (the TFLite converter's usual few hundred).
CALIBRATION_SAMPLES = 300


def calibration_rows(n, num_samples=CALIBRATION_SAMPLES):
    """The rows of ``n`` inputs that calibrate int8 ranges: all of them, or a seeded random subset of
    ``num_samples`` (sorted, so data ordered by class do not calibrate on a few classes). The one rule of every
    conversion (``calibration_inputs``, ``export.convert``, ``export.mixed``)."""
    if n <= num_samples:
        return slice(None)
    return np.sort(np.random.default_rng(0).permutation(n)[:num_samples])


def calibration_inputs(data, num_samples=CALIBRATION_SAMPLES):
    """The inputs that calibrate int8 ranges, the same rows for every conversion of a run: ``calibration_rows`` of
    the training inputs, or of the validation inputs when there are none. ``data`` is a dict of arrays or a
    ``tfcompress.datasets.DataSource`` (which reads those rows from its stream once and keeps them)."""
    from tfcompress.datasets import as_source

    return as_source(data).calibration_inputs(num_samples)


def num_classes_of(y):
    """Number of classes implied by labels (one-hot width, or max id + 1)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return int(y.shape[1])
    return int(y.max()) + 1


def sparse_labels(y):
    """Class ids from sparse or one-hot labels, as a 1-D int array."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype("int32")
    return y.reshape(-1).astype("int32")
