"""The tiny digits CNN of the export tests, trained from the current random state (shared by fixtures)."""

from tfcompress._keras import keras


def train_small_cnn(digits):
    """A ~1.8k-parameter CNN trained 15 epochs on digits (about 2 s), from the current random state."""
    from tfcompress.models import build_cnn

    model = build_cnn((8, 8, 1), 10, filters=(8, 16), dense_units=16)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(digits["x_train"], digits["y_train"], epochs=15, batch_size=32, verbose=0)
    return model
