"""Files of a small pipeline run shared by the pipeline tests: a tabular task and its MLP teacher."""

import numpy as np

from tfcompress import build_mlp, keras, make_tabular_data


def tabular_files(root):
    """A small tabular task and an MLP teacher trained on it, saved in ``root``: ``(root, teacher path, data)``."""
    data = make_tabular_data(n_samples=400, n_features=8, n_classes=3)
    keras.utils.set_random_seed(0)
    teacher = build_mlp((8,), 3, units=(32,), name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data["x_train"], data["y_train"], epochs=8, verbose=0)
    path = str(root / "teacher.keras")
    teacher.save(path)
    np.savez(root / "data.npz", **data)
    return root, path, data
