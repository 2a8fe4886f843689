"""Input augmentation for distillation: the same augmented batch goes to teacher and student.

With a teacher, an augmented input needs no label of its own: the teacher's output on that very input is the
target ("consistent" views, Beyer et al., CVPR 2022, "Knowledge distillation: a good teacher is patient and
consistent"). Two augmentations are offered, both as a ``tf.data`` pipeline of shuffled batches:

* ``shift``: each image moves by up to an eighth of its size (at least one pixel, zero fill);
* ``mixup``: each input is blended with another of its batch, ``lam * x_i + (1 - lam) * x_j`` with ``lam`` drawn
  from Beta(a, a) per sample (Zhang et al., ICLR 2018). The hard label stays an integer class: the label of the
  input with the larger share, so the accuracy metrics and the sparse cross-entropy keep working; the teacher's
  outputs on the blended input carry the rest.
"""

import numpy as np

from tfcompress.errors import ConfigError
from tfcompress.stage import check_number


def augmented_batches(x, y, batch_size, shift=True, mixup=0.0, seed=None):
    """Shuffled batches of ``(x, y)`` with random shifts and/or mixup applied per epoch.

    Args:
        x: inputs, ``(n, height, width, channels)`` images when ``shift`` is True.
        y: integer class labels.
        batch_size: batch size.
        shift: move each image at random by up to ``max(1, size // 8)`` pixels per axis. Defaults to True.
        mixup: the ``a`` of Beta(a, a) for mixup; 0 for none. Defaults to 0.
        seed: shuffle seed. Defaults to None.

    Raises:
        ConfigError: ``shift`` on inputs that are not images, or a negative ``mixup``.
    """
    from tfcompress._keras import tf

    x = np.asarray(x)
    check_number("distill", "mixup", mixup, low=0)
    ds = tf.data.Dataset.from_tensor_slices((x, np.asarray(y))).shuffle(len(x), seed=seed)
    if shift:
        ds = ds.map(shift_fn(x.shape[1:]), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)
    if mixup:
        ds = ds.map(mixup_fn(mixup), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(2)


def shift_fn(sample_shape):
    """A ``tf.data`` map of one ``(image, label)``: the image moved at random by up to ``max(1, size // 8)``
    pixels per axis, zero fill (the ``shift`` augmentation).

    Raises:
        ConfigError: ``sample_shape`` is not ``(height, width, channels)``.
    """
    from tfcompress._keras import tf

    if len(sample_shape) != 3:
        raise ConfigError(f"distill augment 'shift' needs image inputs (n, height, width, channels), received "
                          f"samples of shape {tuple(sample_shape)}. Fix: use augment: null for vector inputs.")
    ph, pw = max(1, int(sample_shape[0]) // 8), max(1, int(sample_shape[1]) // 8)

    def shift_one(image, label):
        padded = tf.pad(image, [[ph, ph], [pw, pw], [0, 0]])
        return tf.image.random_crop(padded, tf.shape(image)), label
    return shift_one


def mixup_fn(a):
    """A ``tf.data`` map of one batch ``(x, y)``: mixup with Beta(a, a) (see the module docstring)."""
    from tfcompress._keras import tf

    a = float(a)

    def mix(xb, yb):
        n = tf.shape(xb)[0]
        g1 = tf.random.gamma([n], a)
        lam = g1 / (g1 + tf.random.gamma([n], a))  # Beta(a, a)
        perm = tf.random.shuffle(tf.range(n))
        lam_x = tf.reshape(lam, tf.concat([[n], tf.ones([tf.rank(xb) - 1], tf.int32)], 0))
        mixed = lam_x * xb + (1.0 - lam_x) * tf.gather(xb, perm)
        return mixed, tf.where(lam >= 0.5, yb, tf.gather(yb, perm))
    return mix


def shifted_batches(x, y, batch_size, seed=None):
    """Shuffled batches whose images are shifted at random (``augmented_batches`` with shift only)."""
    return augmented_batches(x, y, batch_size, shift=True, mixup=0.0, seed=seed)


__all__ = ["augmented_batches", "shifted_batches", "shift_fn", "mixup_fn"]
