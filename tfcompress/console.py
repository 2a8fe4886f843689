"""A quiet terminal: tfcompress's own lines only, the libraries' noise captured.

TensorFlow, absl, the TFLite converter and the LiteRT interpreter print from C++ straight to the process's
file descriptors ("All log messages before absl::InitializeLog", oneDNN and CUDA notes, "fully_quantize: 0,
inference_type: 6 ...", "Created TensorFlow Lite XNNPACK delegate"), and tf_keras and absl log warnings from
Python. The ``tfcompress`` command calls ``quiet_environment()`` before TensorFlow is imported and
``enable()`` after; then ``captured()`` blocks (the converter, the interpreter) send file descriptors 1 and
2 to a temporary file, shown only when the block fails, and Python's library loggers report errors only.
``--verbose`` leaves everything as the libraries print it. Python code that imports tfcompress itself is not
changed unless it calls ``enable()``.
"""

import contextlib
import logging
import os
import sys
import tempfile
import warnings

_STATE = {"quiet": False}
#: Environment read by TensorFlow, gRPC and absl when they start (``quiet_environment`` sets them if unset).
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "ABSL_MIN_LOG_LEVEL": "3",
             "TF_ENABLE_ONEDNN_OPTS": "0", "KMP_WARNINGS": "0"}
_LOGGERS = ("tensorflow", "absl", "tf_keras", "keras_tuner", "h5py", "matplotlib")


def quiet_environment(environ=None):
    """Set the logging environment variables of ``QUIET_ENV`` that are not already set (before TF starts)."""
    environ = os.environ if environ is None else environ
    for key, value in QUIET_ENV.items():
        environ.setdefault(key, value)


def enable():
    """Quiet from now on: library loggers at ERROR, library warnings ignored, ``captured()`` active."""
    _STATE["quiet"] = True
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass
    for module in ("tf_keras", "tensorflow", "keras", "keras_tuner", "tensorflow_model_optimization"):
        warnings.filterwarnings("ignore", module=module)
    warnings.filterwarnings("ignore", message=".*HDF5 file.*")


def disable():
    """Back to the libraries' own output (``--verbose``; also used by tests)."""
    _STATE["quiet"] = False


def is_quiet():
    return _STATE["quiet"]


@contextlib.contextmanager
def captured(what="the library call", force=False):
    """While quiet (or with ``force``), send what C/C++ code prints on file descriptors 1 and 2 to a temporary
    file.

    The captured text is printed to stderr when the block raises (with what it was doing), and dropped
    otherwise. When not quiet this does nothing.
    """
    if not (_STATE["quiet"] or force) or os.environ.get("TFCOMPRESS_VERBOSE") == "1" or _STATE.get("command"):
        yield
        return
    text, failed = [], False
    try:
        with fds_to_file() as text:
            yield
    except BaseException:
        failed = True
        raise
    finally:
        output = text[0].strip() if failed and text else ""
        if output:
            print(f"[output of {what}]\n{output}", file=sys.stderr)


@contextlib.contextmanager
def fds_to_file():
    """Send everything written to file descriptors 1 and 2 (C and C++ code included) to a temporary file.

    Yields a list that holds the captured text once the block has ended, also when it raised. C's stdio buffers
    are flushed into the file before the descriptors are put back.
    """
    captured = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield captured
        finally:
            _flush_c_stdio()
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))


def _flush_c_stdio():
    """``fflush(NULL)``: C stdio buffers a redirected stdout, which would otherwise reach the terminal later."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # pragma: no cover - no C library to flush (not on Linux or macOS)
        pass


@contextlib.contextmanager
def quiet_command(verbose=False):
    """The whole of a ``tfcompress`` command: Python's ``sys.stdout``/``sys.stderr`` keep writing to the terminal,
    while file descriptors 1 and 2 (where C/C++ code prints) go to a temporary file.

    With ``verbose`` nothing is redirected or silenced. The captured text of the last command is kept in
    ``last_native_output()`` (the command shows it with ``--debug`` when it fails).
    """
    if verbose:
        disable()
        yield
        return
    enable()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    streams = (sys.stdout, sys.stderr)
    # Python streams on file descriptors 1 and 2 move to copies of them; others (pytest's, Jupyter's) stay
    replaced = [_fd_of(stream) in (1, 2) for stream in streams]
    if replaced[0]:
        sys.stdout = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8", errors="replace")
    if replaced[1]:
        sys.stderr = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8", errors="replace")
    sink = tempfile.TemporaryFile(mode="w+b")
    os.dup2(sink.fileno(), 1)
    os.dup2(sink.fileno(), 2)
    _STATE["command"] = True
    try:
        yield
    finally:
        _STATE["command"] = False
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for stream, own in zip((sys.stdout, sys.stderr), replaced):
            if own:
                stream.close()
        sys.stdout, sys.stderr = streams
        sink.seek(0)
        _STATE["native"] = sink.read().decode("utf-8", "replace")
        sink.close()


def _fd_of(stream):
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None


def last_native_output():
    """What C/C++ code printed during the last ``quiet_command`` (empty if none ran)."""
    return _STATE.get("native", "")


__all__ = ["quiet_environment", "enable", "disable", "is_quiet", "captured", "quiet_command", "last_native_output",
           "QUIET_ENV"]
