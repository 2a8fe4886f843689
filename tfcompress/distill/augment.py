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


def _check_images(x, what):
    if x.ndim != 4:
        raise ConfigError(f"{what} needs image inputs (n, height, width, channels), received shape {x.shape}. "
                          f"Fix: use augment: null for vector inputs.")


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
    if shift:
        _check_images(x, "distill augment 'shift'")
    check_number("distill", "mixup", mixup, low=0)
    ds = tf.data.Dataset.from_tensor_slices((x, np.asarray(y))).shuffle(len(x), seed=seed)
    if shift:
        ph, pw = max(1, x.shape[1] // 8), max(1, x.shape[2] // 8)

        def shift_one(image, label):
            padded = tf.pad(image, [[ph, ph], [pw, pw], [0, 0]])
            return tf.image.random_crop(padded, tf.shape(image)), label

        ds = ds.map(shift_one, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)
    if mixup:
        a = float(mixup)

        def mix(xb, yb):
            n = tf.shape(xb)[0]
            g1 = tf.random.gamma([n], a)
            lam = g1 / (g1 + tf.random.gamma([n], a))  # Beta(a, a)
            perm = tf.random.shuffle(tf.range(n))
            lam_x = tf.reshape(lam, tf.concat([[n], tf.ones([tf.rank(xb) - 1], tf.int32)], 0))
            mixed = lam_x * xb + (1.0 - lam_x) * tf.gather(xb, perm)
            return mixed, tf.where(lam >= 0.5, yb, tf.gather(yb, perm))

        ds = ds.map(mix, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(2)


def shifted_batches(x, y, batch_size, seed=None):
    """Shuffled batches whose images are shifted at random (``augmented_batches`` with shift only)."""
    return augmented_batches(x, y, batch_size, shift=True, mixup=0.0, seed=seed)


__all__ = ["augmented_batches", "shifted_batches"]
