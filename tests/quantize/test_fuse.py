"""fuse_relu: stand-alone ReLU layers are folded into the Dense/Conv before them, same outputs."""

import numpy as np

from tfcompress._keras import keras
from tfcompress.models import build_cnn, build_mlp
from tfcompress.quantize.fuse import fuse_relu


def test_fuse_relu_folds_dense_relu_with_same_outputs():
    model = build_mlp((6,), 3, units=(8, 8))
    fused_model, fused = fuse_relu(model)
    assert fused == [("dense0", "relu0"), ("dense1", "relu1")]
    assert not any(isinstance(layer, keras.layers.ReLU) for layer in fused_model.layers)
    assert fused_model.get_layer("dense0").get_config()["activation"] == "relu"
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    np.testing.assert_allclose(fused_model(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    assert model.get_layer("dense0").get_config()["activation"] == "linear"  # the input model is untouched


def test_fuse_relu_leaves_batchnorm_patterns_kept_names_and_shared_outputs():
    cnn = build_cnn((8, 8, 1), 4, filters=(4,), dense_units=0)  # conv -> BN -> ReLU: TFMOT folds BN itself
    assert fuse_relu(cnn) == (cnn, [])
    model = build_mlp((6,), 3, units=(8,))
    assert fuse_relu(model, keep=["relu0"]) == (model, [])
    x = keras.Input((4,))
    h = keras.layers.Dense(4, name="d")(x)
    out = keras.layers.Add()([keras.layers.ReLU(name="r")(h), h])  # the Dense output is used twice
    branchy = keras.Model(x, out)
    assert fuse_relu(branchy) == (branchy, [])
