"""TFMOT quantize configs for the standard layers its default 8-bit registry leaves out.

TFMOT 0.8.1 quantizes ``Add`` (its output) but has no entry for ``Multiply`` or ``Rescaling``, which
squeeze-and-excitation gates and hard-swish activations are made of (``tfcompress.models.blocks``); QAT of
such a model is refused ("Layer multiply ... is not supported"). Neither layer has weights, and the int8
TFLite kernels (MUL, and MUL + ADD for Rescaling) quantize their outputs, so QAT needs the same as for
``Add``: a moving-average 8-bit quantizer on the output.
"""

import tensorflow_model_optimization as tfmot

from tfcompress._keras import keras

_qkeras = tfmot.quantization.keras


@keras.utils.register_keras_serializable(package="tfcompress")
class OutputQuantizeConfig(_qkeras.QuantizeConfig):
    """Quantize only a layer's output (8 bits, asymmetric, per tensor), as TFMOT does for ``Add``."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [_qkeras.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                          narrow_range=False)]

    def get_config(self):
        return {}


#: Layer classes quantized with ``OutputQuantizeConfig`` when the scheme's registry does not support them.
OUTPUT_ONLY_LAYERS = (keras.layers.Multiply, keras.layers.Rescaling)


def extra_config(layer, registry):
    """``OutputQuantizeConfig()`` for a layer in ``OUTPUT_ONLY_LAYERS`` that ``registry`` lacks, else None."""
    if isinstance(layer, OUTPUT_ONLY_LAYERS) and not registry.supports(layer):
        return OutputQuantizeConfig()
    return None


def scope_objects():
    """Custom objects that ``quantize_apply`` and model loading need for these configs."""
    return {"OutputQuantizeConfig": OutputQuantizeConfig}


__all__ = ["OutputQuantizeConfig", "OUTPUT_ONLY_LAYERS", "extra_config", "scope_objects"]
