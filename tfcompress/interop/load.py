"""Load any Keras model file (tf_keras or Keras 3) as a ``tf_keras`` model."""

import contextlib
import json
import os
import zipfile

from tfcompress._keras import keras
from tfcompress.errors import ModelError
from tfcompress.interop.convert import _keras3_kind, is_tf_keras_model, to_tf_keras

__all__ = ["load_model", "ensure_tf_keras"]


def _keras_archive_version(path):
    """The ``keras_version`` in a ``.keras`` zip archive, or None if ``path`` is not such an archive."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names or "metadata.json" not in names:
                return None
            return str(json.loads(archive.read("metadata.json")).get("keras_version", ""))
    except (zipfile.BadZipFile, ValueError, OSError):
        return None


def _h5_keras_version(path):
    try:
        import h5py
        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version")
    except Exception:  # noqa: BLE001 - not an HDF5 file
        return None
    return version.decode() if isinstance(version, bytes) else (str(version) if version is not None else None)


@contextlib.contextmanager
def _tfmot_scopes():
    """Make TFMOT's wrapper layers (QAT, pruning, clustering) known while a saved model is read."""
    import tensorflow_model_optimization as tfmot

    from tfcompress.quantize.configs import scope_objects

    with tfmot.quantization.keras.quantize_scope(scope_objects()), tfmot.sparsity.keras.prune_scope(), \
            tfmot.clustering.keras.cluster_scope():
        yield


def _holds_lambda(path):
    """Whether an ``.h5`` file or SavedModel folder stores a ``Lambda`` layer (Python code).

    tf_keras honours ``safe_mode`` only for ``.keras`` archives, so the other formats are checked here,
    from the stored model config, before anything is deserialised.
    """
    if os.path.isdir(path):
        meta = os.path.join(path, "keras_metadata.pb")
        if not os.path.exists(meta):
            return False
        with open(meta, "rb") as f:
            blob = f.read()
        return b'"class_name": "Lambda"' in blob or b'"class_name":"Lambda"' in blob
    try:
        import h5py

        with h5py.File(path, "r") as f:
            config = f.attrs.get("model_config")
    except Exception:  # noqa: BLE001 - not an HDF5 file: tf_keras will say what it is
        return False
    if config is None:
        return False
    config = config.decode() if isinstance(config, bytes) else str(config)
    return _has_class(json.loads(config), "Lambda")


def _has_class(node, name):
    if isinstance(node, dict):
        return node.get("class_name") == name or any(_has_class(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_has_class(v, name) for v in node)
    return False


def _load_error(path, exc, safe_mode):
    text = " ".join(str(exc).split())
    if safe_mode and ("safe_mode" in text or "Lambda" in text):
        return ModelError(f"{path!r} holds a Lambda layer (Python code), which safe mode does not execute; if you "
                          "trust the file, pass safe_mode=False (CLI: --unsafe-load).")
    return ModelError(f"could not load a Keras model from {path!r}: expected a .keras archive, an .h5 file or a "
                      f"SavedModel folder ({type(exc).__name__}: {text[:300]}).")


def _load_keras3(path, safe_mode):
    import keras as keras3  # the one place outside _keras.py that imports Keras 3
    try:
        return keras3.models.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        raise _load_error(path, exc, safe_mode) from None


def load_model(path, safe_mode=True):
    """Load a Keras model file as a ``tf_keras`` model.

    tf_keras files (``.keras``, ``.h5``, SavedModel folders; TFMOT QAT, pruning and clustering wrappers
    included) are loaded with tf_keras; Keras 3 files
    (a ``.keras`` archive whose metadata says ``keras_version`` 3.x, or an ``.h5`` written by Keras 3)
    are loaded with Keras 3 and converted with :func:`to_tf_keras`.

    Args:
        path: a ``.keras`` file, an ``.h5`` file or a SavedModel folder.
        safe_mode: refuse to run code stored in the file (Lambda layers). Defaults to True.

    Returns:
        An uncompiled ``tf_keras`` model.

    Raises:
        ModelError: the path is missing, unreadable, not a model, or holds a Lambda layer under safe mode.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError(f"model file {path!r} does not exist; expected a .keras, .h5 or SavedModel path.")
    version = None if os.path.isdir(path) else _keras_archive_version(path)
    if version is not None and version.startswith("3"):
        model = to_tf_keras(_load_keras3(path, safe_mode))
    else:
        if safe_mode and _holds_lambda(path):
            raise _load_error(path, ValueError("Lambda layer blocked by safe_mode"), safe_mode)
        try:
            with _tfmot_scopes():
                model = keras.models.load_model(path, compile=False, safe_mode=safe_mode)
        except Exception as exc:  # noqa: BLE001
            if not os.path.isdir(path) and (_h5_keras_version(path) or "").startswith("3"):
                model = to_tf_keras(_load_keras3(path, safe_mode))
            else:
                raise _load_error(path, exc, safe_mode) from None
    if not is_tf_keras_model(model):
        hint = (" (a SavedModel without Keras metadata, e.g. from Keras 3 model.export() or "
                "tf.saved_model.save, holds no layers to rebuild)" if os.path.isdir(path) else "")
        raise ModelError(f"{path!r} did not hold a Keras model; received {type(model).__name__}{hint}. "
                         "Expected a file written by model.save(); fix: save the model as .keras.")
    return model


def ensure_tf_keras(model_or_path, sample_inputs=None, safe_mode=True):
    """A tf_keras model from a path, a Keras 3 model or a tf_keras model.

    Args:
        model_or_path: a file path (str or ``os.PathLike``, loaded with :func:`load_model`), a Keras 3 model
            (converted with :func:`to_tf_keras`) or a tf_keras model (returned unchanged).
        sample_inputs: passed to :func:`to_tf_keras` for a Keras 3 model. Defaults to None.
        safe_mode: passed to :func:`load_model` for a path. Defaults to True.

    Returns:
        A ``tf_keras`` model.

    Raises:
        ModelError: anything else, or a model that cannot be loaded or converted.
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        return load_model(model_or_path, safe_mode=safe_mode)
    if is_tf_keras_model(model_or_path) or _keras3_kind(model_or_path) is not None:
        return to_tf_keras(model_or_path, sample_inputs=sample_inputs)
    raise ModelError(f"expected a model path, a Keras 3 model or a tf_keras model, received "
                     f"{type(model_or_path).__name__}. Fix: pass a keras.Model or a .keras/.h5 path.")
