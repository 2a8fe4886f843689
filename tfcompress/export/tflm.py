"""TensorFlow Lite Micro check of a TFLite model: supported ops, the measured tensor arena, outputs against LiteRT.

The arena is measured, not estimated: the smallest ``arena_size`` with which TFLM's Python interpreter
(``tflite_micro.runtime``) allocates the model and runs one invoke, found by doubling from the
``activation_bytes`` estimate of ``inspect_tflite`` and then bisecting to TFLM's 16-byte alignment. Arenas far
too small crash that interpreter (a segmentation fault, not an exception), so each probe runs in a child process
that imports only ``tflite_micro`` and NumPy. Outputs are compared in this process, with an arena that a probe
has shown to work, and TFLM's C prints ("Failed to resize buffer ...") go to a temporary file through
``os.dup2`` of file descriptors 1 and 2 (``console.fds_to_file``): they are never shown, and they name the op in
an error message.

The figure is the host build's: TFLM's bookkeeping holds pointers, so on a 32-bit microcontroller the same model
needs slightly less; the recording allocator of the Python interpreter also takes a little of the arena.
"""

import importlib.metadata
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from tfcompress.console import fds_to_file
from tfcompress.errors import ConfigError, ConversionError, ShapeError
from tfcompress.fileio import read_tflite

ALIGNMENT = 16  # TFLM aligns every arena buffer to 16 bytes (MicroArenaBufferAlignment)
DEFAULT_MARGIN = 0.10
_MAX_ARENA = 64 * 1024 * 1024  # more than any microcontroller has
_PROBE_TIMEOUT = 300  # seconds for one allocate + invoke in the child
_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([A-Za-z0-9_]+)'")
_CUSTOM_OP = re.compile(r"Didn't find op for custom opcode '([^']+)'")

# One probe per line of stdin ("SIZE"), one answer per line of the result file ("SIZE ok|fail"). TFLM's own
# prints go to the child's stdout/stderr, which the parent keeps for its error messages.
_PROBE_SCRIPT = r"""
import sys
import numpy as np
from tflite_micro import runtime

model = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "a", buffering=1) as log:
    for line in sys.stdin:
        size = int(line)
        log.write(f"{size} try\n")
        try:
            interpreter = runtime.Interpreter.from_bytes(model, arena_size=size)
            detail = interpreter.get_input_details(0)
            interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
            interpreter.invoke()
            interpreter.get_output(0)
            log.write(f"{size} ok\n")
        except Exception as exc:
            log.write(f"{size} fail {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}\n")
        sys.stdout.flush()
        sys.stderr.flush()
"""


def tflm_version():
    """The installed tflite-micro wheel's version, or None when it is not installed."""
    try:
        return importlib.metadata.version("tflite-micro")
    except importlib.metadata.PackageNotFoundError:
        return None


def _runtime():
    try:
        from tflite_micro import runtime
    except ImportError as exc:
        raise ConfigError(f"the TFLite Micro check needs the tflite-micro package ({exc}); install it with "
                          "pip install --pre tflite-micro==0.dev20261023182759 (setup.cfg pins it).") from None
    return runtime


def _first_line(text):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "failed to prepare" in ln or "not supported" in ln or "not true" in ln:
            return ln[:200].rstrip(".")
    return (lines[0] if lines else "no message")[:200].rstrip(".")


def _refuse_ops(text, ops):
    """ConversionError naming the op TFLM's op resolver lacks, if the captured text says so."""
    missing = _MISSING_OP.findall(text) or _CUSTOM_OP.findall(text)
    if missing:
        raise ConversionError(f"TensorFlow Lite Micro has no kernel for op {missing[0]} (model ops: "
                              f"{', '.join(ops)}); the file would not run on a microcontroller. Fix: replace "
                              f"the layer that makes {missing[0]} with supported ops, or export without tflm.")


class _Prober:
    """A child process that answers "does this arena size allocate and invoke?" and survives TFLM's crashes."""

    def __init__(self, data):
        self._folder = tempfile.TemporaryDirectory(prefix="tfcompress-tflm-")
        self._model = os.path.join(self._folder.name, "model.tflite")
        self._log = os.path.join(self._folder.name, "probes.txt")
        with open(self._model, "wb") as f:
            f.write(data)
        open(self._log, "w").close()
        self._proc = None
        self._output = tempfile.TemporaryFile()
        self.probes = 0
        self.crashes = 0
        self.signal = None  # the signal that ended the child during the last probe, if any
        self._mark = 0

    def _start(self):
        self._proc = subprocess.Popen([sys.executable, "-c", _PROBE_SCRIPT, self._model, self._log],
                                      stdin=subprocess.PIPE, stdout=self._output, stderr=subprocess.STDOUT,
                                      text=True)

    def _answers(self):
        with open(self._log) as f:
            return f.read().splitlines()

    def works(self, size):
        """True when ``size`` bytes allocate and run; a crash of the child counts as not enough."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        self.probes += 1
        self.signal = None
        self._output.flush()
        self._mark = self._output.seek(0, os.SEEK_END)
        seen = len(self._answers())
        self._proc.stdin.write(f"{size}\n")
        self._proc.stdin.flush()
        began = time.monotonic()
        while True:
            answers = self._answers()[seen:]
            done = [a for a in answers if not a.endswith(" try")]
            if done:
                return done[0].split()[1] == "ok"
            if self._proc.poll() is not None:  # died (e.g. SIGSEGV) while probing this size
                self.crashes += 1
                code = self._proc.returncode
                self.signal = signal.Signals(-code).name if code < 0 and -code in signal.valid_signals() else code
                self._proc = None
                return False
            if time.monotonic() - began > _PROBE_TIMEOUT:
                self._proc.kill()
                self._proc.wait()
                self._proc = None
                raise ConversionError(f"TensorFlow Lite Micro did not allocate and run the model with a {size}-byte "
                                      f"arena within {_PROBE_TIMEOUT} s; the probe was stopped.")
            time.sleep(0.002)

    def text(self, last=False):
        """What TFLM printed in the child: everything, or only during the last probe."""
        self._output.flush()
        self._output.seek(self._mark if last else 0)
        return self._output.read().decode("utf-8", "replace")

    def close(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait(timeout=30)
        self._output.close()
        self._folder.cleanup()


def measure_arena(tflite, start=None):
    """The smallest TFLM arena (a multiple of 16 bytes) that allocates the model and runs one invoke.

    Args:
        tflite: model bytes or ``.tflite`` path.
        start: first size to try; None starts from ``inspect_tflite``'s ``activation_bytes``. Defaults to None.

    Returns:
        dict with ``arena_bytes`` (works), ``arena_fails_at`` (``arena_bytes - 16``, probed: it does not; 0 when
        ``arena_bytes`` is 16),
        ``probes`` (sizes tried) and ``probe_crashes`` (probes that crashed the child process).

    Raises:
        ConversionError: TFLM lacks an op of the model, or no arena up to 64 MiB works (the message quotes TFLM).
    """
    from tfcompress.export.inspection import inspect_tflite

    data = read_tflite(tflite)
    info = inspect_tflite(data)
    ops = sorted(info["ops"])
    hi = max(ALIGNMENT, int(start or info["activation_bytes"] or 1024))
    hi = int(math.ceil(hi / ALIGNMENT) * ALIGNMENT)
    prober = _Prober(data)
    try:
        lo = 0
        while not prober.works(hi):
            _refuse_ops(prober.text(), ops)
            if prober.signal == "SIGABRT" and not prober.works(_MAX_ARENA):  # a failed check, not a short arena
                raise ConversionError(f"TensorFlow Lite Micro aborted (SIGABRT) while preparing this model with "
                                      f"{hi} bytes and with {_MAX_ARENA // 2 ** 20} MiB of arena; its last words: "
                                      f"{_first_line(prober.text(last=True))}. "
                                      "Seen with a degenerate quantization scale (1e-8 before the SOFTMAX of an "
                                      "untrained MobileNetV2). Fix: calibrate a trained model on real data, or "
                                      "export without tflm.")
            lo = hi
            hi *= 2
            if hi > _MAX_ARENA:
                crash = f" (the last probe ended with {prober.signal})" if prober.signal else ""
                raise ConversionError(f"TensorFlow Lite Micro cannot run this model with any arena up to "
                                      f"{_MAX_ARENA // 2 ** 20} MiB{crash}: {_first_line(prober.text(last=True))}.")
        while hi - lo > ALIGNMENT:  # lo fails (or is 0), hi works
            mid = (lo + hi) // 2 // ALIGNMENT * ALIGNMENT
            if prober.works(mid):
                hi = mid
            else:
                lo = mid
        return {"arena_bytes": hi, "arena_fails_at": lo, "probes": prober.probes,
                "probe_crashes": prober.crashes}
    finally:
        prober.close()


def check_margin(margin):
    """Raise ConfigError unless ``margin`` is a number between 0 and 10 (a fraction: 0.10 adds 10%)."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 10:
        raise ConfigError(f"tflm margin must be a fraction between 0 and 10 (0.10 adds 10%), received {margin!r}.")
    return margin


def with_margin(arena_bytes, margin=DEFAULT_MARGIN):
    """``arena_bytes`` plus ``margin`` (a fraction), rounded up to a multiple of 16 bytes."""
    return int(math.ceil(arena_bytes * (1.0 + margin) / ALIGNMENT) * ALIGNMENT)


def _tflm_outputs(data, x, arena_size, ops):
    """Dequantized TFLM outputs for ``x``, one invoke per sample, C prints captured."""
    from tfcompress.export.runtime import dequantize_output, quantize_input

    runtime = _runtime()
    with fds_to_file() as captured:
        try:
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
            inp = interpreter.get_input_details(0)
            out = interpreter.get_output_details(0)
        except Exception as exc:  # noqa: BLE001 - TFLM raises RuntimeError/ValueError; quoted below
            error = exc
        else:
            error = None
    if error is not None:
        _refuse_ops(captured[0], ops)
        raise ConversionError(f"TensorFlow Lite Micro cannot load this model: {_first_line(captured[0])} "
                              f"({error}).")
    shape = tuple(int(s) for s in inp["shape"])
    if x.shape[1:] != shape[1:]:
        raise ShapeError(f"inputs have shape {x.shape} but the TFLite Micro model expects [n, "
                         f"{', '.join(str(s) for s in shape[1:])}].")

    def detail(d):
        q = d["quantization_parameters"]
        scale = float(q["scales"][0]) if len(q["scales"]) else 0.0
        zero_point = int(q["zero_points"][0]) if len(q["zero_points"]) else 0
        return {"dtype": np.dtype(d["dtype"]), "quantization": (scale, zero_point)}

    inp_d, out_d = detail(inp), detail(out)
    results, error = [], None
    with fds_to_file() as captured:
        try:
            for row in x:
                interpreter.set_input(quantize_input(row[None], inp_d), 0)
                interpreter.invoke()
                results.append(np.asarray(interpreter.get_output(0)).copy())
        except Exception as exc:  # noqa: BLE001
            error = exc
    if error is not None:
        raise ConversionError(f"TensorFlow Lite Micro failed to run the model: {_first_line(captured[0])} "
                              f"({error}).")
    raw = np.concatenate(results)
    return dequantize_output(raw, out_d), out_d


def predict_tflm(tflite, x, arena_size=None):
    """Outputs of a TFLite model run in TensorFlow Lite Micro, dequantized to float (one invoke per sample).

    Args:
        tflite: model bytes or ``.tflite`` path (one input, one output).
        x: float inputs ``[n, ...]`` (integer models get them quantized).
        arena_size: the arena to allocate; None measures the smallest that works (``measure_arena``) first.

    Returns:
        A float32 array ``[n, ...]``.
    """
    from tfcompress.export.inspection import inspect_tflite

    data = read_tflite(tflite)
    ops = sorted(inspect_tflite(data)["ops"])
    size = int(arena_size) if arena_size else measure_arena(data)["arena_bytes"]
    return _tflm_outputs(data, np.asarray(x, dtype="float32"), size, ops)[0].astype("float32")


def check_tflm(tflite, x=None, margin=DEFAULT_MARGIN, litert_outputs=None, y=None):
    """Check that a TFLite model runs in TensorFlow Lite Micro: its ops, its measured arena, and its outputs.

    Args:
        tflite: model bytes or ``.tflite`` path (one input, one output).
        x: float inputs ``[n, ...]`` to run in TFLM and in LiteRT (the values the Keras model takes; integer
            models get them quantized). None checks ops and arena on zeros only. Defaults to None.
        margin: fraction added to the measured arena for ``arena_with_margin_bytes`` (the figure to allocate on
            a device, rounded up to 16 bytes). Defaults to 0.10.
        litert_outputs: LiteRT's dequantized outputs for ``x``, if already computed (else ``predict_tflite``
            runs them). Defaults to None.
        y: labels of ``x`` (ids); given, the result also holds ``tflm_accuracy`` and ``litert_accuracy`` (top-1).
            Defaults to None.

    Returns:
        JSON-able dict with ``arena_bytes`` (smallest working arena, measured), ``arena_fails_at`` (16 bytes less,
        which fails),
        ``arena_with_margin_bytes``, ``margin``, ``ops`` (sorted op names), ``samples``, and with ``x``:
        ``argmax_agreement`` (share of samples whose argmax equals LiteRT's), ``max_abs_diff_lsb`` (largest
        output difference in steps of the output scale; None for float outputs) and ``max_abs_diff`` (in output
        units), ``diff_unit`` ("lsb" or "float"); also ``runtime``, ``seconds`` and ``probes``.

    Raises:
        ConversionError: TFLM has no kernel for an op (named in the one-line message), or cannot load or run the
            model.
        ConfigError: ``margin`` is negative, or tflite-micro is missing.
        ShapeError: ``x`` does not fit the model.
    """
    from tfcompress.export.inspection import inspect_tflite
    from tfcompress.export.runtime import predict_tflite

    check_margin(margin)
    _runtime()
    began = time.perf_counter()
    data = read_tflite(tflite)
    info = inspect_tflite(data)
    if len(info["inputs"]) != 1 or len(info["outputs"]) != 1:
        raise ConfigError(f"check_tflm runs models with one input and one output; this model has "
                          f"{len(info['inputs'])} inputs and {len(info['outputs'])} outputs.")
    ops = sorted(info["ops"])
    arena = measure_arena(data)
    result = {"runtime": f"tflite-micro {tflm_version()}", "ops": ops, "arena_bytes": arena["arena_bytes"],
              "arena_fails_at": arena["arena_fails_at"], "margin": float(margin),
              "arena_with_margin_bytes": with_margin(arena["arena_bytes"], margin),
              "arena_note": "measured on the host build of TFLM (64-bit pointers); a 32-bit device needs a little "
                            "less", "probes": arena["probes"], "samples": 0}
    if x is not None:
        x = np.asarray(x, dtype="float32")
        if x.ndim < 1 or x.shape[0] == 0:
            raise ShapeError(f"check_tflm needs a batch of inputs [n, ...], received shape {x.shape}.")
        tflm, out_d = _tflm_outputs(data, x, arena["arena_bytes"], ops)
        litert = predict_tflite(data, x) if litert_outputs is None else np.asarray(litert_outputs, "float32")
        if litert.shape != tflm.shape:
            raise ShapeError(f"LiteRT outputs {litert.shape} but TFLite Micro {tflm.shape}; give the LiteRT "
                             "outputs of the same inputs.")
        diff = np.abs(tflm.astype("float64") - litert.astype("float64"))
        flat_t, flat_l = tflm.reshape(len(x), -1), litert.reshape(len(x), -1)
        scale = out_d["quantization"][0]
        integer = np.issubdtype(out_d["dtype"], np.integer) and scale > 0
        result.update(samples=int(len(x)),
                      argmax_agreement=float(np.mean(flat_t.argmax(1) == flat_l.argmax(1))),
                      max_abs_diff=float(diff.max()),
                      max_abs_diff_lsb=int(np.round(diff.max() / scale)) if integer else None,
                      diff_unit="lsb" if integer else "float",
                      output_dtype=np.dtype(out_d["dtype"]).name)
        if y is not None:
            from tfcompress.data import sparse_labels

            labels = sparse_labels(y)
            result.update(tflm_accuracy=float(np.mean(flat_t.argmax(1) == labels)),
                          litert_accuracy=float(np.mean(flat_l.argmax(1) == labels)))
    result["seconds"] = round(time.perf_counter() - began, 3)
    return json.loads(json.dumps(result))


def format_tflm(result):
    """One line about a ``check_tflm`` result, e.g. for the CLI."""
    line = (f"TFLite Micro: arena {result['arena_bytes']} bytes measured ({result['arena_with_margin_bytes']} "
            f"with {result['margin']:.0%} margin), {len(result['ops'])} op types")
    if result.get("samples"):
        diff = (f"max diff {result['max_abs_diff_lsb']} LSB" if result["diff_unit"] == "lsb"
                else f"max diff {result['max_abs_diff']:.3g} (float)")
        line += f", argmax agreement with LiteRT {result['argmax_agreement']:.4f} on {result['samples']}, {diff}"
    return line


__all__ = ["check_tflm", "predict_tflm", "measure_arena", "with_margin", "check_margin", "format_tflm",
           "tflm_version"]
