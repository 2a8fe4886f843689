"""Any teacher teaches: load a teacher as tf_keras when the bridge can carry it, else as a black box.

Order: a tf_keras model or file is used as it is; a Keras 3 model or file goes through ``to_tf_keras`` and, when
that refuses (a custom layer, a subclassed model), runs as a black box in Keras 3; a ``.tflite`` file and a
SavedModel without Keras metadata run as black boxes (LiteRT, the serving signature).

Custom classes come from the user's code: ``custom_objects`` (a dict) in Python, or a module named on the command
line (``--custom-objects MODULE``), whose Keras classes are collected by ``custom_objects_from_module``. Importing
that module runs its code; the option says so.
"""

import importlib
import inspect
import os
import re
import sys

from tfcompress.errors import ConfigError, ModelError
from tfcompress.interop import blackbox
from tfcompress.interop.convert import _keras3_kind, is_tf_keras_model, to_tf_keras
from tfcompress.interop.load import _keras_archive_version, load_model

_UNKNOWN = re.compile(r"Could not locate (?:class|function) '([^']+)'|Unknown (?:layer|object)[^:]*: '?([\w.]+)")


def custom_objects_from_module(name):
    """Import module ``name`` (a dotted name, or a ``.py`` path) and return its Keras classes and functions by name.

    Raises:
        ConfigError: the module cannot be imported (the cause in one line).
    """
    try:
        if name.endswith(".py") and os.path.exists(name):
            folder, file = os.path.split(os.path.abspath(name))
            sys.path.insert(0, folder)
            name = file[:-3]
        module = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any error in the user's module
        raise ConfigError(f"--custom-objects {name!r}: the module could not be imported ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); give an importable module name "
                          "(on PYTHONPATH) or a .py file.") from None
    found = {}
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        if inspect.isclass(value) and any(k.__module__.startswith(("keras.", "tf_keras.")) for k in value.__mro__[1:]):
            found[attr] = value
    return found


def _keras3_file(path, safe_mode, custom_objects):
    import keras as keras3  # Keras 3 reads its own files; the bridge or the black box takes it from there

    try:
        return keras3.models.load_model(path, compile=False, safe_mode=safe_mode, custom_objects=custom_objects)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        text = " ".join(str(exc).split())
        match = _UNKNOWN.search(text)
        if match:
            cls = match.group(1) or match.group(2)
            raise ModelError(f"{path!r} uses the class {cls!r}, which is not known here: it comes from your code. "
                             f"Fix: pass custom_objects={{{cls!r}: {cls}}} in Python, or on the command line "
                             "--custom-objects MODULE (the module that defines it; its code runs).") from None
        if safe_mode and ("safe_mode" in text or "Lambda" in text):
            raise ModelError(f"{path!r} holds a Lambda layer (Python code), which safe mode does not execute; if "
                             "you trust the file, pass safe_mode=False (CLI: --unsafe-load).") from None
        raise ModelError(f"could not load the Keras 3 model {path!r} ({type(exc).__name__}: {text[:300]}).") from None


def _from_keras3_model(model, source):
    try:
        return to_tf_keras(model)
    except ModelError:
        return blackbox.from_keras3(model, source=source)


def load_teacher(source, safe_mode=True, custom_objects=None):
    """The teacher as a tf_keras model: rebuilt (``to_tf_keras``) when possible, else a black box.

    Args:
        source: a tf_keras or Keras 3 model, or the path of a ``.keras``/``.h5`` file, a SavedModel folder or a
            ``.tflite`` file.
        safe_mode: refuse to run code stored in a file (Lambda layers). Defaults to True.
        custom_objects: Keras classes of the user's code by name (for custom layers). Defaults to None.

    Returns:
        A tf_keras model; ``blackbox.is_black_box(model)`` tells whether it only gives outputs.

    Raises:
        ModelError: a missing or unreadable file, an unknown custom class (named, with the option that fixes it),
            or a model without one class-score output.
    """
    if is_tf_keras_model(source):
        return source
    if _keras3_kind(source) is not None:
        return _from_keras3_model(source, source.name)
    if not isinstance(source, (str, os.PathLike)):
        raise ModelError(f"expected a teacher model or path, received {type(source).__name__}.")
    path = os.fspath(source)
    if not os.path.exists(path):
        raise ModelError(f"teacher model {path!r} does not exist. Give a saved Keras model (.keras, .h5, a SavedModel "
                         "folder) or a .tflite file.")
    if path.endswith(".tflite"):
        return blackbox.from_tflite(path)
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "keras_metadata.pb")):
        return blackbox.from_saved_model(path)
    version = None if os.path.isdir(path) else _keras_archive_version(path)
    if version is not None and version.startswith("3"):
        return _from_keras3_model(_keras3_file(path, safe_mode, custom_objects), path)
    return load_model(path, safe_mode=safe_mode)


__all__ = ["load_teacher", "custom_objects_from_module"]
