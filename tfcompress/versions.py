"""The versions of Python, tfcompress and the libraries that shaped a file: one record for cards and reports."""

import importlib.metadata
import platform

#: Distributions whose versions are recorded (PyPI names).
PACKAGES = ("tensorflow", "tf-keras", "keras", "tensorflow-model-optimization", "keras-tuner", "ai-edge-litert",
            "tflite-micro")


def versions():
    """``{"python": ..., "tfcompress": ..., <distribution>: <version or None>}`` (None when not installed)."""
    import tfcompress

    out = {"python": platform.python_version(), "tfcompress": getattr(tfcompress, "__version__", None)}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


__all__ = ["versions", "PACKAGES"]
