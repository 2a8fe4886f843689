"""Image folders in the layout of ``keras.utils.image_dataset_from_directory``, read as streams.

::

    DIR/train/<class>/*.png|jpg|jpeg|gif|bmp
    DIR/val/<class>/...
    DIR/test/<class>/...        (optional)

Classes are the sub-folder names in alphanumeric order (class id 0 is the first), as Keras orders them. The
folder is checked before any work: every split folder needs class folders (and no loose files), every split
the same classes, every class at least one image, and every file must be an image (its first bytes are read:
a renamed text file or an empty file is named in the error). Images are decoded, resized (bilinear) to the
teacher's input size and given its number of channels as they are read; only the list of paths is kept.
"""

import hashlib
import os

import numpy as np

from tfcompress.datasets.split import StreamSplit, sample_order
from tfcompress.errors import DataError

#: The image types ``image_dataset_from_directory`` reads, and the first bytes of each.
EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
MAGIC = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif", b"BM": "bmp"}
SPLITS = ("train", "val", "test")
LAYOUT = "DIR/train/<class>/*.png, DIR/val/<class>/*.png (optional DIR/test/<class>/...)"


def is_image_folder(path):
    """Whether ``path`` is a folder (rather than an ``.npz`` file)."""
    return os.path.isdir(os.fspath(path))


def scan_folder(root):
    """Check an image folder's layout and files; return ``({split: (paths, labels)}, class_names)``.

    Raises:
        DataError: a one-line message naming the folder or file at fault and the layout expected.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise DataError(f"data folder {root!r} does not exist. Expected the layout {LAYOUT}.")
    present = [s for s in SPLITS if os.path.isdir(os.path.join(root, s))]
    if "val" not in present:
        found = sorted(n for n in os.listdir(root) if not n.startswith("."))
        raise DataError(f"data folder {root!r} has no val/ folder (it has {found}). Expected the layout {LAYOUT}.")
    splits, classes = {}, None
    for split in present:
        folder = os.path.join(root, split)
        names = _class_names(folder)
        if classes is None:
            classes, first = names, split
        elif names != classes:
            missing, extra = sorted(set(classes) - set(names)), sorted(set(names) - set(classes))
            raise DataError(f"{folder} has other classes than {os.path.join(root, first)}: "
                            + "; ".join(p for p in (missing and f"missing {missing}", extra and f"extra {extra}")
                                        if p) + ". Every split needs the same class folders.")
        splits[split] = _files(folder, names)
    return splits, classes


def _class_names(folder):
    entries = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    loose = [n for n in entries if not os.path.isdir(os.path.join(folder, n))]
    if loose:
        raise DataError(f"{folder} holds files directly ({loose[0]!r}); put each image in a folder named after its "
                        f"class ({LAYOUT}).")
    if not entries:
        raise DataError(f"{folder} is empty: it needs one folder per class with the images in it ({LAYOUT}).")
    return entries


def _files(folder, classes):
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = []
        for top, dirs, files in os.walk(os.path.join(folder, name), followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [os.path.join(top, f) for f in sorted(files) if not f.startswith(".")]
        if not found:
            raise DataError(f"class folder {os.path.join(folder, name)} has no images; remove it or add images.")
        for path in found:
            check_image_file(path)
        paths += found
        labels += [label] * len(found)
    return np.asarray(paths), np.asarray(labels, dtype="int32")


def check_image_file(path):
    """Raise a ``DataError`` unless ``path`` has an image extension and starts like an image of a known type."""
    if not path.lower().endswith(EXTENSIONS):
        raise DataError(f"{path} is not an image (the readable types are {', '.join(EXTENSIONS)}); remove it from "
                        "the data folder.")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror or exc}); fix its permissions or remove it.") from None
    if not any(head.startswith(magic) for magic in MAGIC):
        what = "empty" if not head else "not a PNG, JPEG, GIF or BMP image (its first bytes say otherwise)"
        raise DataError(f"{path} is {what}; replace or remove it.")


class FileSplit(StreamSplit):
    """A split of image files: the paths and labels in memory, each image decoded when it is read.

    Args:
        name: the split's name.
        paths, labels: the files and their class ids (``scan_folder``).
        shape: ``(height, width, channels)`` each image is resized and converted to.
        rescale: ``(scale, offset)``: each pixel value (0-255) becomes ``value * scale + offset`` (``(1/255, 0)``
            gives ``[0, 1]``, ``(1, 0)`` keeps it).
        source: the split's folder, for messages.
    """

    def __init__(self, name, paths, labels, shape, rescale, source):
        identity = _identity(paths, shape, rescale)
        super().__init__(name, None, source, identity=identity)
        self.paths = paths
        self._labels = labels
        self._shape = tuple(int(d) for d in shape)
        self.scale, self.offset = (float(v) for v in rescale)

    def _scan(self):
        return self._labels

    def _load(self):
        from tfcompress._keras import tf

        height, width, channels = self._shape
        scale, offset = self.scale, self.offset

        def load(path):
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
            image = tf.image.resize(image, (height, width), method="bilinear")
            return tf.ensure_shape(image * scale + offset, self._shape)
        return load

    def indexed(self, shuffle=False, seed=None):
        from tfcompress._keras import tf

        load = self._load()
        paths, labels = tf.constant(self.paths), tf.constant(self._labels)
        # a full shuffle of the file order (one permutation per epoch), then each image read as it is needed
        return sample_order(len(self.paths), shuffle, seed).map(
            lambda i: (i, load(tf.gather(paths, i)), tf.gather(labels, i)), num_parallel_calls=tf.data.AUTOTUNE)

    def rows(self, rows):
        from tfcompress._keras import tf

        wanted = np.sort(np.arange(len(self.paths))[rows])
        load = self._load()
        ds = tf.data.Dataset.from_tensor_slices(self.paths[wanted]).map(load, num_parallel_calls=tf.data.AUTOTUNE)
        return np.concatenate(list(ds.batch(256).as_numpy_iterator()))


def _identity(paths, shape, rescale):
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{tuple(shape)}:{tuple(rescale)}".encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def folder_splits(root, shape, rescale):
    """The ``FileSplit`` of every split folder of ``root`` (checked by ``scan_folder``), and the class names."""
    found, classes = scan_folder(root)
    return {name: FileSplit(name, paths, labels, shape, rescale, os.path.join(os.fspath(root), name))
            for name, (paths, labels) in found.items()}, classes


__all__ = ["scan_folder", "folder_splits", "FileSplit", "check_image_file", "is_image_folder", "EXTENSIONS"]
