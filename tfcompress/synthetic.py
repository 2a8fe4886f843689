"""Image data made on the spot, deterministic and without downloads: shapes and textures, digits at any size.

``make_shapes_data`` draws RGB images of ten classes — five shapes (disk, square, triangle, ring, cross) and
five textures (horizontal, vertical and diagonal stripes, a checkerboard, a grid of dots) — each at a random
place, size, rotation and colour on a random background with a colour gradient and noise, most with a
distractor ellipse that belongs to no class. The class is in
the geometry, not the colour, so a model must look at shape and texture. ``load_digits_data(image_size=32)``
(in ``tfcompress.data``) scales scikit-learn's 8x8 digits instead.
"""

import numpy as np

CLASSES = ("disk", "square", "triangle", "ring", "cross", "h_stripes", "v_stripes", "diagonal_stripes",
           "checkerboard", "dots")


def _grid(size):
    yy, xx = np.mgrid[0:size, 0:size].astype("float32")
    return (xx + 0.5) / size, (yy + 0.5) / size


def _rotated(u, v, angle):
    c, s = np.cos(angle), np.sin(angle)
    return c * u + s * v, -s * u + c * v


def _mask(kind, u, v, radius, rng):
    """The 0/1 region of class ``kind`` in coordinates (u, v) centred on the object, of size ``radius``."""
    r = np.sqrt(u ** 2 + v ** 2)
    if kind == "disk":
        return r < radius
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) < radius * 0.85
    if kind == "triangle":
        return (v < radius * 0.6) & (v > -radius + 1.7 * np.abs(u))
    if kind == "ring":
        return (r < radius) & (r > radius * rng.uniform(0.45, 0.65))
    if kind == "cross":
        arm = radius * rng.uniform(0.25, 0.4)
        return ((np.abs(u) < arm) | (np.abs(v) < arm)) & (np.maximum(np.abs(u), np.abs(v)) < radius)
    # textures fill a disk-shaped patch of the object's size
    period = radius * rng.uniform(0.35, 0.6)
    patch = r < radius * 1.15
    if kind == "h_stripes":
        pattern = np.sin(2 * np.pi * v / period) > 0
    elif kind == "v_stripes":
        pattern = np.sin(2 * np.pi * u / period) > 0
    elif kind == "diagonal_stripes":
        pattern = np.sin(2 * np.pi * (u + v) / (period * 1.41)) > 0
    elif kind == "checkerboard":
        pattern = (np.floor(u / period * 2) + np.floor(v / period * 2)) % 2 == 0
    elif kind == "dots":
        cu, cv = (u / period) % 1.0 - 0.5, (v / period) % 1.0 - 0.5
        pattern = np.sqrt(cu ** 2 + cv ** 2) < 0.25
    else:  # pragma: no cover - CLASSES lists every kind
        raise ValueError(kind)
    return patch & pattern


def shape_image(kind, size, rng):
    """One ``(size, size, 3)`` float32 image in [0, 1] of class ``kind`` (a name in ``CLASSES``)."""
    x, y = _grid(size)
    background = rng.uniform(0.0, 1.0, 3)
    gradient = rng.uniform(-0.3, 0.3, 3)
    angle_g = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle_g) * (x - 0.5) + np.sin(angle_g) * (y - 0.5)
    image = background[None, None, :] + ramp[..., None] * gradient[None, None, :]
    if rng.random() < 0.6:  # a distractor: an ellipse of another colour, which is no class
        du, dv = _rotated(x - rng.uniform(0.1, 0.9), y - rng.uniform(0.1, 0.9), rng.uniform(0, np.pi))
        a, b = rng.uniform(0.04, 0.12, 2)
        image = np.where(((du / a) ** 2 + (dv / b) ** 2 < 1.0)[..., None], rng.uniform(0, 1, 3)[None, None, :],
                         image)
    radius = rng.uniform(0.14, 0.32)
    cx, cy = rng.uniform(radius, 1 - radius, 2)
    # stripes keep their orientation class: they are rotated a little only; shapes turn freely
    textures = ("h_stripes", "v_stripes", "diagonal_stripes", "checkerboard", "dots")
    angle = rng.uniform(-0.25, 0.25) if kind in textures else rng.uniform(0, 2 * np.pi)
    u, v = _rotated(x - cx, y - cy, angle)
    mask = _mask(kind, u, v, radius, rng)
    colour = rng.uniform(0.0, 1.0, 3)
    while np.abs(colour - background).sum() < 0.6:  # the object must stand out from its background
        colour = rng.uniform(0.0, 1.0, 3)
    image = np.where(mask[..., None], colour[None, None, :], image)
    image = image + rng.normal(0.0, rng.uniform(0.03, 0.18), image.shape)
    return np.clip(image, 0.0, 1.0).astype("float32")


def make_shapes_data(n_samples=6000, image_size=32, seed=0, val_fraction=0.2, test_fraction=0.2):
    """A 10-class RGB image task of shapes and textures (``CLASSES``), split into train, val and test.

    Deterministic for a seed, made with NumPy alone (no download), at any size (32 or 96 px, say).

    Args:
        n_samples: images in all, spread evenly over the classes. Defaults to 6000.
        image_size: height and width in pixels. Defaults to 32.
        seed: seed of the generator. Defaults to 0.
        val_fraction: share of images for validation. Defaults to 0.2.
        test_fraction: share of images for the test. Defaults to 0.2.

    Returns:
        A dict with ``x_train, y_train, x_val, y_val, x_test, y_test`` (float32 images in [0, 1], int32 labels).

    Example:
        >>> data = make_shapes_data(n_samples=100, image_size=16)
        >>> data["x_train"].shape, sorted(set(data["y_train"].tolist()))[:3]
        ((60, 16, 16, 3), [0, 1, 2])
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % len(CLASSES)
    rng.shuffle(labels)
    images = np.stack([shape_image(CLASSES[k], int(image_size), rng) for k in labels])
    n_test, n_val = int(round(n_samples * test_fraction)), int(round(n_samples * val_fraction))
    n_train = n_samples - n_test - n_val
    y = labels.astype("int32")
    return {"x_train": images[:n_train], "y_train": y[:n_train],
            "x_val": images[n_train:n_train + n_val], "y_val": y[n_train:n_train + n_val],
            "x_test": images[n_train + n_val:], "y_test": y[n_train + n_val:]}


def resize_images(x, size, channels=None):
    """Images ``(n, h, w, c)`` resized to ``size`` x ``size`` (bilinear), with ``channels`` by repetition."""
    from tfcompress._keras import tf

    out = tf.image.resize(np.asarray(x, dtype="float32"), (int(size), int(size)), method="bilinear").numpy()
    if channels is not None and out.shape[-1] != channels:
        if out.shape[-1] != 1:
            raise ValueError(f"cannot turn {out.shape[-1]} channels into {channels}; only 1 channel repeats.")
        out = np.repeat(out, channels, axis=-1)
    return np.clip(out, 0.0, 1.0).astype("float32")


def write_image_folder(root, n_samples=600, image_size=32, seed=0, val_fraction=0.2, test_fraction=0.2):
    """Write the shapes task (``make_shapes_data``'s images) as PNG files in the layout of
    ``keras.utils.image_dataset_from_directory``: ``root/train/<class>/00000.png``, ``root/val/...``,
    ``root/test/...``. Each image is made and written on its own, so a large folder needs little memory.

    Returns:
        ``{split: number of images}``.
    """
    import os

    from tfcompress._keras import tf

    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % len(CLASSES)
    rng.shuffle(labels)
    n_test, n_val = int(round(n_samples * test_fraction)), int(round(n_samples * val_fraction))
    bounds = {"train": (0, n_samples - n_test - n_val), "val": (n_samples - n_test - n_val, n_samples - n_test),
              "test": (n_samples - n_test, n_samples)}
    for split in bounds:
        for name in CLASSES:
            os.makedirs(os.path.join(os.fspath(root), split, name), exist_ok=True)
    counts = {}
    for split, (lo, hi) in bounds.items():
        counts[split] = hi - lo
        for i in range(lo, hi):
            image = shape_image(CLASSES[labels[i]], int(image_size), rng)
            png = tf.io.encode_png(np.round(image * 255).astype("uint8")).numpy()
            with open(os.path.join(os.fspath(root), split, CLASSES[labels[i]], f"{i:06d}.png"), "wb") as f:
                f.write(png)
    return counts


__all__ = ["make_shapes_data", "shape_image", "resize_images", "write_image_folder", "CLASSES"]
