"""The conversion cache: one conversion per distinct model, format and calibration; none outside a cache."""

import numpy as np
import pytest

from tfcompress._keras import keras
from tfcompress.export import ConversionCache, conversion_cache, convert
from tfcompress.export.cache import active_cache, fingerprint


def _copy(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def test_same_model_converts_once_and_gives_the_same_bytes(trained_cnn, digits):
    x = digits["x_train"]
    with conversion_cache() as cache:
        first = convert(trained_cnn, "int8", representative_data=x)
        again = convert(_copy(trained_cnn), "int8", representative_data=x)  # another object, same weights
    assert again == first
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    assert active_cache() is None


def test_weights_format_and_calibration_each_give_a_new_conversion(trained_cnn, digits):
    x = digits["x_train"]
    changed = _copy(trained_cnn)
    weights = changed.get_weights()
    weights[0] = weights[0] * 0.5
    changed.set_weights(weights)
    with conversion_cache() as cache:
        convert(trained_cnn, "int8", representative_data=x)
        convert(changed, "int8", representative_data=x)
        convert(trained_cnn, "float", representative_data=x)
        convert(trained_cnn, "int8", representative_data=x[::-1][:200])
    assert (cache.hits, cache.misses) == (0, 4)


def test_outside_a_cache_nothing_is_kept(trained_cnn, digits):
    assert active_cache() is None
    outer = ConversionCache()
    with conversion_cache(outer):
        with conversion_cache() as inner:
            convert(trained_cnn, "float")
        assert active_cache() is outer
    assert (len(outer), len(inner)) == (0, 1)


def test_the_oldest_files_are_dropped_beyond_the_limit():
    cache = ConversionCache(max_bytes=10)
    cache.put("a", b"123456")
    cache.put("b", b"7890")
    cache.put("c", b"xy")  # 12 bytes: "a" goes
    assert cache.get("a") is None and cache.get("b") == b"7890" and cache.get("c") == b"xy"


def test_fingerprint_depends_on_every_weight(trained_cnn):
    base = fingerprint(trained_cnn, "int8", [np.zeros((2, 8, 8, 1), "float32")])
    changed = _copy(trained_cnn)
    weights = changed.get_weights()
    weights[-1] = weights[-1] + 1e-3  # the last bias only
    changed.set_weights(weights)
    assert fingerprint(changed, "int8", [np.zeros((2, 8, 8, 1), "float32")]) != base
    assert fingerprint(_copy(trained_cnn), "int8", [np.zeros((2, 8, 8, 1), "float32")]) == base


@pytest.mark.parametrize("fmt", ["int8", "float"])
def test_cached_bytes_equal_a_fresh_conversion(trained_cnn, digits, fmt):
    x = digits["x_train"]
    with conversion_cache():
        convert(trained_cnn, fmt, representative_data=x)
        cached = convert(trained_cnn, fmt, representative_data=x)
    assert cached == convert(trained_cnn, fmt, representative_data=x)


def test_a_model_given_to_tfmot_keeps_its_fingerprint(trained_cnn, digits):
    """TFMOT's quantize_model changes how Keras serialises the model it is given, not the model."""
    from tfcompress.quantize.qat import quantize_aware_model

    model = _copy(trained_cnn)
    samples = [digits["x_train"][:4].astype("float32")]
    before = fingerprint(model, "int8", samples)
    quantize_aware_model(model)
    assert fingerprint(model, "int8", samples) == before
