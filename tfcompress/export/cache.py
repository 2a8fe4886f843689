"""A conversion cache: each distinct model is converted once per format and calibration.

A run converts the same weights many times over: a stage's result is measured, then judged, then exported; the
QAT fallback converts the model the previous stage measured. ``convert`` looks its result up here first, under a
fingerprint of what decides the file — the model's architecture (``get_config``), every weight's bytes, the format and
the calibration inputs — so the export writes the very file that measured the last stage.

The cache is active only inside ``conversion_cache()`` (the pipeline opens one per run); outside it every call
converts. It keeps files up to ``max_bytes`` in total, dropping the oldest first.

Example::

    with conversion_cache() as cache:
        a = convert(model, "int8", representative_data=x)   # converts
        b = convert(model, "int8", representative_data=x)   # the same bytes, from the cache
    assert a == b and cache.hits == 1
"""

import collections
import contextlib
import hashlib
import json

import numpy as np

#: Default size limit of a cache (the files themselves; a search's candidates are a few hundred kB each).
DEFAULT_MAX_BYTES = 512 * 2**20


class ConversionCache:
    """Converted files by fingerprint (see the module docstring); ``hits`` and ``misses`` count lookups.

    Args:
        max_bytes: total size of the files kept; the oldest are dropped beyond it. Defaults to 512 MiB.
    """

    def __init__(self, max_bytes=DEFAULT_MAX_BYTES):
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self._files = collections.OrderedDict()
        self._size = 0

    def get(self, key):
        """The file stored under ``key``, or None (counted as a hit or a miss)."""
        flat = self._files.get(key) if key is not None else None
        if flat is None:
            self.misses += 1
            return None
        self.hits += 1
        self._files.move_to_end(key)
        return flat

    def put(self, key, flat):
        """Store ``flat`` (bytes) under ``key``; a None key stores nothing."""
        if key is None or key in self._files:
            return
        self._files[key] = flat
        self._size += len(flat)
        while self._size > self.max_bytes and len(self._files) > 1:
            _, old = self._files.popitem(last=False)
            self._size -= len(old)

    def __len__(self):
        return len(self._files)


_ACTIVE = []


@contextlib.contextmanager
def conversion_cache(cache=None):
    """Make ``cache`` (a new ``ConversionCache`` by default) the one ``convert`` uses inside the block; yield it."""
    cache = ConversionCache() if cache is None else cache
    _ACTIVE.append(cache)
    try:
        yield cache
    finally:
        _ACTIVE.remove(cache)


def active_cache():
    """The innermost cache opened by ``conversion_cache()``, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


def fingerprint(model, format, samples, **options):  # noqa: A002 (the converter's word)
    """A digest of what decides a conversion's file: architecture, weights, format, calibration inputs, options.

    The architecture is the model's ``get_config()`` without the keys that only say how Keras serialises a layer
    (``module``, ``registered_name``, ``build_config``), with NumPy values as numbers: TFMOT's ``quantize_model``
    switches the serialisation mode of a model it is given and turns some of its layers' numbers into 0-d arrays,
    and the same model would otherwise look new. Returns None when the model has no config (the
    conversion is then not cached).
    """
    try:
        architecture = json.dumps(_structural(model.get_config()), sort_keys=True, default=repr)
    except Exception:  # noqa: BLE001 - a model without a config is converted every time
        return None
    digest = hashlib.sha256()
    digest.update(type(model).__name__.encode())
    digest.update(architecture.encode())
    for weights in model.get_weights():
        weights = np.ascontiguousarray(weights)
        digest.update(f"{weights.dtype}{weights.shape}".encode())
        digest.update(weights.tobytes())
    digest.update(repr((format, sorted(options.items()))).encode())
    for arr in samples or []:
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.dtype}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


_SERIALIZATION_KEYS = ("module", "registered_name", "build_config")


def _structural(config):
    if isinstance(config, dict):
        return {k: _structural(v) for k, v in config.items() if k not in _SERIALIZATION_KEYS}
    if isinstance(config, (list, tuple)):
        return [_structural(v) for v in config]
    if isinstance(config, (np.ndarray, np.generic)):  # TFMOT turns e.g. a ReLU's threshold 0.0 into array(0.)
        return np.asarray(config).tolist()
    return config

__all__ = ["ConversionCache", "conversion_cache", "active_cache", "fingerprint"]
