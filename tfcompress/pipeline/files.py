"""The pipeline's output files, each written atomically (see ``tfcompress.fileio``)."""

import json
import os
import shutil

from tfcompress.fileio import atomic_path, atomic_write


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    atomic_write(path, data)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, text.encode("utf-8"))


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_default) + "\n")


def copy_file(src, dst):
    """Copy ``src`` to ``dst`` atomically."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def save_model(model, path):
    """``model.save(path)`` atomically (the suffix of ``path`` chooses the format, e.g. ``.keras``)."""
    with atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
        model.save(tmp)


def save_figure(fig, path):
    """Save a matplotlib figure to ``path`` (PNG) atomically."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


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
