"""Atomic file output: a temporary file in the target's folder, then ``os.replace``.

A crash or a kill never leaves a half-written model, report or state file that
looks valid: readers see either the old file or the whole new one.
"""

import contextlib
import os
import tempfile


def _read_umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


# Read once at import: os.umask is process-wide, so toggling it later could race with other threads.
_UMASK = _read_umask()


def _file_mode(path):
    """Mode for a new file at ``path``: the existing file's mode, else 0666 minus the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary file path beside ``path``; when the block succeeds it replaces ``path``.

    Use it for writers that want a path (``model.save``, ``fig.savefig``, ``np.savez``); ``suffix`` keeps the
    extension those writers look at (e.g. ``".keras"``).  If the block raises, the temporary file is removed
    and ``path`` is left as it was.

    Args:
        path: the final file path; its folder is created if needed.
        suffix: extension of the temporary file. Defaults to "".
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600 files; give the usual mode instead
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write(path, data):
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` atomically, flushed to disk; return ``path``."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


__all__ = ["atomic_path", "atomic_write"]
