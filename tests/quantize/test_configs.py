"""QAT of models with squeeze-and-excitation and hard-swish: TFMOT lacks Multiply/Rescaling, our config fills in."""

import numpy as np

from tfcompress._keras import keras
from tfcompress.export import convert, inspect_tflite
from tfcompress.interop import load_model
from tfcompress.models import build_mobilenet
from tfcompress.quantize import count_quantized_layers, quantize_aware_model, unquantizable_layers
from tfcompress.quantize.configs import OutputQuantizeConfig


def test_se_and_hard_swish_models_train_quantized_and_export_fully_integer(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 16, 16, 3)).astype("float32"), rng.integers(0, 4, 32)
    model = build_mobilenet((16, 16, 3), 4, width=0.25, depths=(1, 1), se=True, activation_fn="hard_swish")
    assert unquantizable_layers(model) == []
    qat = quantize_aware_model(model)
    wrapped = [layer for layer in qat.layers if type(layer).__name__.startswith("QuantizeWrapper")]
    multiplies = [layer for layer in wrapped if isinstance(layer.layer, keras.layers.Multiply)]
    assert multiplies and all(isinstance(layer.quantize_config, OutputQuantizeConfig) for layer in multiplies)
    assert count_quantized_layers(qat) >= len(multiplies)
    qat.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.fit(x, y, epochs=1, verbose=0)
    info = inspect_tflite(convert(qat, "int8", representative_data=x))
    assert info["is_fully_integer"], info["float_ops"]
    path = str(tmp_path / "qat.h5")
    qat.save(path)
    again = load_model(path)
    np.testing.assert_allclose(again.predict(x[:4], verbose=0), qat.predict(x[:4], verbose=0), atol=1e-5)
