"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

A run that is killed never leaves a half-written report, model or state file.
"""

import json
import os
import shutil
import tempfile


def _tmp_path(path, suffix=""):
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    return tmp


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_default) + "\n")


def copy_file(src, dst):
    """Copy ``src`` to ``dst`` atomically."""
    tmp = _tmp_path(dst)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_model(model, path):
    """``model.save(path)`` atomically (the suffix of ``path`` chooses the format, e.g. ``.keras``)."""
    tmp = _tmp_path(path, suffix=os.path.splitext(path)[1])
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_figure(fig, path):
    """Save a matplotlib figure to ``path`` (PNG) atomically."""
    tmp = _tmp_path(path, suffix=".png")
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


__all__ = ["write_bytes", "write_text", "write_json", "copy_file", "save_model", "save_figure"]
