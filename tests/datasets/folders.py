"""Image folders for the tests: scikit-learn's digits written as 8x8 grey PNG files, and a teacher for them."""

import os

import numpy as np


def write_digits_folder(root, splits=("train", "val", "test"), per_split=None):
    """``root/<split>/<digit>/<i>.png`` from ``load_digits_data`` (values 0-1 stored as 0-255 grey); return the
    arrays the files hold, ``{split: (x, y)}`` with ``x`` in [0, 1] as the folder reader gives them."""
    from tfcompress import load_digits_data, tf

    data = load_digits_data()
    out = {}
    for split in splits:
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        if per_split is not None:
            x, y = x[:per_split], y[:per_split]
        pixels = np.round(x * 255).astype("uint8")
        for i, (image, label) in enumerate(zip(pixels, y)):
            folder = os.path.join(os.fspath(root), split, str(int(label)))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
                f.write(tf.io.encode_png(image).numpy())
        out[split] = (pixels.astype("float32") / 255.0, y)
    return out


def digits_teacher(path, epochs=30):
    """A small CNN trained on the digits arrays (inputs in [0, 1]), saved to ``path``; return the model."""
    from tfcompress import build_cnn, keras, load_digits_data

    keras.utils.set_random_seed(0)
    data = load_digits_data()
    teacher = build_cnn((8, 8, 1), 10, filters=(16, 32), name="teacher")
    teacher.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    teacher.fit(data["x_train"], data["y_train"], epochs=epochs, batch_size=32, verbose=0)
    teacher.save(os.fspath(path))
    return teacher
