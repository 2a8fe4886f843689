"""Mixed precision by sensitivity: int8 or int16 activations per op (and optionally int4 weights), chosen with
litert-quantizer on a float ``.tflite`` file.

The TFLite converter quantizes a whole model to int8 or to int16x8; litert-quantizer (``litert_quantizer``)
quantizes an existing float ``.tflite`` file by a recipe that can give each op its own bits, inserting a
QUANTIZE op (a requantization) wherever an int8 tensor meets an int16 one. Scheme used here: measure, for each
quantizable op alone, the accuracy when only that op has int8 activations in an otherwise int16x8 model
(``layer_sensitivity``); then, starting from all-int8, promote the ops with the largest drop to int16
activations, one at a time, until the accuracy is within a tolerance of the all-int16x8 reference
(``mixed_precision``).

Typical use::

    from tfcompress.export import convert
    from tfcompress.export.mixed import mixed_precision

    data, report = mixed_precision(model, x_train[:300], (x_val, y_val), tolerance=0.005)
    report["formats"]["mixed"]["accuracy"], report["precision"], report["sensitivity"][0]
"""

import contextlib
import io
import re
import warnings

import numpy as np

from tfcompress._compat import interpreter_ops, tflite_schema
from tfcompress.data import calibration_rows
from tfcompress.errors import ConfigError, ConversionError
from tfcompress.export.inspection import inspect_tflite
from tfcompress.export.runtime import make_interpreter, predict_tflite
from tfcompress.export.verify import verify_tflite
from tfcompress.fileio import read_tflite

SIGNATURE = "serving_default"
SCHEME = ("one op at a time with int8 activations in an otherwise int16x8 model (int8 weights); drop is the "
          "all-int16x8 accuracy minus its accuracy")
# Ops whose weights litert-quantizer can store as int4 in a static recipe (its default policy: static_wi4_ai8).
INT4_OPS = ("CONV_2D", "FULLY_CONNECTED")
# Ops with a weight tensor (the rest, e.g. MAX_POOL_2D or RESHAPE, report weight_bits None).
WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D_TRANSPOSE", "FULLY_CONNECTED", "EMBEDDING_LOOKUP")


def _quantizer_modules():
    """``(quantizer, recipe, qtyping)`` of litert-quantizer, or a ConfigError saying how to install it."""
    try:
        from litert_quantizer import qtyping, quantizer, recipe
    except ImportError as exc:
        raise ConfigError(f"mixed precision needs litert-quantizer ({exc}). Fix: pip install "
                          "litert-quantizer==0.11.0 (or pip install -e . from the tfcompress checkout).") from None
    return quantizer, recipe, qtyping


def quantizer_version():
    """The installed litert-quantizer version, e.g. ``"0.11.0"``."""
    from importlib.metadata import version

    return version("litert-quantizer")


def with_signature(data):
    """The float file with a ``serving_default`` signature over subgraph 0 (added when it has none).

    ``tfcompress.export.convert`` converts a concrete function, which leaves the file without signatures;
    litert-quantizer calibrates through a signature runner, so it needs one.
    """
    import flatbuffers

    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    if model.signatureDefs:
        return bytes(data)
    graph = model.subgraphs[0]

    def tensor_maps(indices):
        maps = []
        for i in indices:
            entry = schema.TensorMapT()
            entry.name, entry.tensorIndex = graph.tensors[i].name, int(i)
            maps.append(entry)
        return maps

    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = SIGNATURE, 0
    signature.inputs, signature.outputs = tensor_maps(graph.inputs), tensor_maps(graph.outputs)
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def quantizable_ops(float_tflite):
    """The ops of a float file that litert-quantizer knows, in graph order.

    Returns:
        list of dicts ``{"index", "op", "scope", "outputs"}``: ``scope`` is the quantizer's name of the op (its
        output tensor names joined by ";" plus a final ";"), which a recipe's regex matches.
    """
    _, _, qtyping = _quantizer_modules()
    known = {name.value for name in qtyping.TFLOperationName}
    interpreter = make_interpreter(read_tflite(float_tflite), delegates=False)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    ops = []
    for op in interpreter_ops(interpreter):
        if op["op_name"] in known and op["op_name"] not in ("INPUT", "OUTPUT"):
            outputs = [names[i] for i in op["outputs"] if i >= 0 and names.get(i)]
            ops.append({"index": int(op["index"]), "op": op["op_name"], "scope": ";".join(outputs) + ";",
                        "outputs": outputs})
    return ops


class QuantizationSession:
    """One float file calibrated once; quantizes it with per-op bits and measures the results."""

    def __init__(self, float_tflite, representative, eval_data, num_samples=300):
        x, y = _eval_pair(eval_data)
        self.float_data = with_signature(read_tflite(float_tflite))
        self.x, self.y = x, y
        self.float_outputs = predict_tflite(self.float_data, x)
        self.ops = quantizable_ops(self.float_data)
        if not self.ops:
            raise ConfigError("the float TFLite model has no op litert-quantizer can quantize.")
        interpreter = make_interpreter(self.float_data, delegates=False)
        if any(d["dtype"] != np.float32 for d in interpreter.get_input_details()):
            raise ConfigError("mixed precision starts from a float .tflite file (convert(model, 'float')); this one "
                              "has integer inputs, so it is quantized already.")
        signatures = interpreter.get_signature_list()
        if len(signatures) != 1:
            raise ConfigError(f"mixed precision needs a file with one signature; this one has {sorted(signatures)}.")
        (key, runner), = signatures.items()
        if len(runner["inputs"]) != 1:
            raise ConfigError(f"mixed precision supports one-input models; this one has {len(runner['inputs'])}.")
        samples = _calibration_samples(representative, num_samples)
        self._calibration = {key: [{runner["inputs"][0]: samples[i:i + 1]} for i in range(len(samples))]}
        self._qsv = None
        self._measured = {}

    def quantize(self, activation_bits=None, weight_bits=None, default_activation_bits=8):
        """File bytes: every op at ``default_activation_bits`` and int8 weights, except the scopes in
        ``activation_bits`` / ``weight_bits`` (dicts scope -> bits)."""
        quantizer, recipe, _ = _quantizer_modules()
        activation_bits, weight_bits = activation_bits or {}, weight_bits or {}
        base = recipe.static_wi8_ai16() if default_activation_bits == 16 else recipe.static_wi8_ai8()
        q = quantizer.Quantizer(bytearray(self.float_data))
        q.load_quantization_recipe(base)
        by_scope = {op["scope"]: op["op"] for op in self.ops}
        for scope in sorted(set(activation_bits) | set(weight_bits)):
            q.add_static_config("^" + re.escape(scope) + "$", by_scope[scope],
                                activation_bits.get(scope, default_activation_bits), weight_bits.get(scope, 8))
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
            try:
                if self._qsv is None:  # min/max ranges of every tensor: the same whatever the bits
                    self._qsv = q.calibrate(self._calibration)
                result = q.quantize(self._qsv, enable_progress_report=False)
            except (ValueError, RuntimeError) as exc:
                raise ConversionError(f"litert-quantizer {quantizer_version()} failed on this model: "
                                      f"{str(exc).strip()[:300]}") from None
        return bytes(result.quantized_model)

    def measure(self, data):
        """``{"accuracy", "output_rmse", "tflite_bytes"}`` of quantized bytes on the eval data (cached)."""
        if data not in self._measured:
            outputs = predict_tflite(data, self.x)
            accuracy = float(np.mean(outputs.reshape(len(self.y), -1).argmax(axis=1) == self.y))
            rmse = float(np.sqrt(np.mean((outputs - self.float_outputs) ** 2)))
            self._measured[data] = {"accuracy": accuracy, "output_rmse": rmse, "tflite_bytes": len(data),
                                    "activation_bytes": inspect_tflite(data)["activation_bytes"]}
        return self._measured[data]

    def activation_types(self, data):
        """Scope -> dtype name of the op's output tensor in a quantized file (int8, int16, ...)."""
        interpreter = make_interpreter(data, delegates=False)
        dtypes = {t["name"]: np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
        return {op["scope"]: dtypes.get(op["outputs"][0], "missing") if op["outputs"] else "missing"
                for op in self.ops}


def _eval_pair(eval_data):
    if not isinstance(eval_data, (tuple, list)) or len(eval_data) != 2:
        raise ConfigError("eval_data must be a pair (x, y) of validation inputs and labels, e.g. (x_val, y_val).")
    from tfcompress.data import check_labels, sparse_labels

    x, y = eval_data
    check_labels(y, name="mixed precision labels")
    x, y = np.asarray(x, dtype="float32"), sparse_labels(y)
    if len(x) != len(y) or len(x) == 0:
        raise ConfigError(f"eval_data holds {len(x)} inputs and {len(y)} labels; give the same non-zero number.")
    return x, y


def _calibration_samples(representative, num_samples):
    """A seeded subset of ``num_samples`` float32 inputs (as ``convert`` calibrates)."""
    if isinstance(representative, (list, tuple)):
        if len(representative) != 1:
            raise ConfigError("mixed precision supports one-input models; give one array of representative inputs.")
        representative = representative[0]
    x = np.asarray(representative, dtype="float32")
    if x.ndim < 2 or len(x) == 0 or not np.all(np.isfinite(x)):
        raise ConfigError(f"representative data must be a non-empty finite batch of real inputs, received shape "
                          f"{x.shape}.")
    return x[calibration_rows(len(x), num_samples)]


def _sensitivity(session, int16_data):
    """The table of ``layer_sensitivity`` for a session (see there)."""
    base = session.measure(int16_data)
    rows = []
    for op in session.ops:
        data = session.quantize({op["scope"]: 8}, default_activation_bits=16)
        measured = session.measure(data)
        applied = session.activation_types(data)[op["scope"]] == "int8"
        rows.append({"op": op["op"], "index": op["index"], "scope": op["scope"], "applied": applied,
                     "accuracy": measured["accuracy"], "drop": base["accuracy"] - measured["accuracy"],
                     "output_rmse": measured["output_rmse"],
                     "rmse_increase": measured["output_rmse"] - base["output_rmse"],
                     "tflite_bytes": measured["tflite_bytes"], "activation_bytes": measured["activation_bytes"]})
    # accuracy first; on a small validation set many ops tie, the rise of the output error breaks the ties
    rows.sort(key=lambda r: (-r["applied"], -r["drop"], -r["rmse_increase"], r["index"]))
    return rows


def layer_sensitivity(float_tflite, representative, eval_data, num_samples=300):
    """Per op, the accuracy when that op alone has int8 activations in an otherwise int16x8 model.

    The scheme: calibrate the float file once (litert-quantizer, min-max); quantize it all-int16x8 (int16
    activations, int8 weights) and once per quantizable op with only that op's activations at 8 bits; measure
    each on the validation data. One quantization per op. Demoting one op from int16 (rather than promoting one
    op in an int8 model) measures what an int8 tensor costs even in a chain: an int16 op between int8 neighbours
    still has its input requantized to int8, so promoting it alone shows no gain.

    Args:
        float_tflite: float ``.tflite`` bytes or path (e.g. ``convert(model, "float")``).
        representative: real training inputs ``[n, ...]`` to calibrate the ranges.
        eval_data: ``(x, y)`` validation inputs and labels.
        num_samples: representative samples used (a seeded subset). Defaults to 300.

    Returns:
        list of JSON-able dicts, most sensitive op first: ``op`` (TFLite op), ``index``, ``scope`` (the op's
        name in the recipe), ``applied`` (the op's output is int8 in the file: False when litert-quantizer has
        no int8 policy for the op), ``accuracy``, ``drop`` (all-int16x8 accuracy minus this one),
        ``output_rmse`` (root-mean-square difference of the outputs from the float file's), ``rmse_increase``,
        ``tflite_bytes`` and ``activation_bytes`` (all non-constant tensors at batch 1, ``inspect_tflite``).

    Raises:
        ConfigError: litert-quantizer is missing, or the data do not fit.
        ConversionError: litert-quantizer fails on the model.
    """
    session = QuantizationSession(float_tflite, representative, eval_data, num_samples=num_samples)
    return _sensitivity(session, session.quantize(default_activation_bits=16))


def _verify(data, session, tflm):
    """LiteRT verification (fully integer, runs on the eval data) and optionally the TFLM check (or its error)."""
    verification = verify_tflite(data, x=session.x, y=session.y, require_integer=True)
    result = {"litert": {k: verification[k] for k in ("is_fully_integer", "tflite_accuracy", "num_samples")
                         if k in verification}}
    if tflm:
        from tfcompress.export.tflm import check_tflm

        try:
            check = check_tflm(data, x=session.x[:64])
            result["tflm"] = {"runs": True, "arena_bytes": check["arena_bytes"],
                              "argmax_agreement": check["argmax_agreement"]}
        except (ConversionError, ConfigError) as exc:
            result["tflm"] = {"runs": False, "error": str(exc)[:300]}
    return result


def mixed_precision(model_or_tflite, representative, eval_data, tolerance=0.005, reference="int16x8",
                    weight_bits=8, num_samples=300, tflm=False):
    """Promote the most sensitive ops to 16-bit activations until accuracy is within ``tolerance`` of a reference.

    Starts from all-int8 (litert-quantizer, int8 weights and activations). While its accuracy on ``eval_data``
    is more than ``tolerance`` below the reference, ops are promoted to int16 activations one at a time in the
    order of ``layer_sensitivity`` (largest drop first), until within tolerance or every op that can be promoted
    is. When all-int16x8 is within tolerance and no larger than that mix (file and activation bytes: each
    int8/int16 boundary adds a QUANTIZE op and a tensor), all-int16x8 is returned instead. With ``weight_bits=4``
    each CONV_2D / FULLY_CONNECTED op then gets int4 weights, one at a time, when the accuracy stays within
    tolerance (LiteRT 2.3.0 runs int4 weights; TFLite Micro does not: its kernels refuse an
    int4 filter). Every file is verified in LiteRT (loads, runs, fully integer).

    Args:
        model_or_tflite: a tf_keras model (converted with ``convert(model, "float")``) or float ``.tflite``
            bytes or path.
        representative: real training inputs ``[n, ...]`` to calibrate the ranges.
        eval_data: ``(x, y)`` validation inputs and labels; the choice is made on them.
        tolerance: largest accepted accuracy drop below the reference (a fraction, e.g. 0.005 = 0.5 points).
            Defaults to 0.005.
        reference: "int16x8" (all ops int16 activations, by litert-quantizer) or "float". Defaults to "int16x8".
        weight_bits: 8, or 4 to try int4 weights per op as well. Defaults to 8.
        num_samples: representative samples used. Defaults to 300.
        tflm: also run the chosen file in TensorFlow Lite Micro and record whether it runs. Defaults to False.

    Returns:
        ``(tflite_bytes, report)``: the mixed file and a JSON-able dict with ``scheme``, ``quantizer``,
        ``tolerance``, ``reference`` (name and accuracy), ``formats`` (``int8`` / ``mixed`` / ``int16x8`` /
        ``float``: accuracy, output_rmse, tflite_bytes, activation_bytes), ``chosen`` ("int8", "mixed" or
        "int16x8": what the returned activations are), ``sensitivity`` (the table), ``promoted`` (scopes with
        int16 activations, in promotion order), ``int4_weights`` (scopes), ``precision`` (per op: op,
        activation_bits, weight_bits), ``within_tolerance`` and ``verification``.

    Raises:
        ConfigError: a bad argument, litert-quantizer missing, or data that do not fit.
        ConversionError: the float conversion, the quantizer or the verification fails.
    """
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or not 0 <= tolerance < 1:
        raise ConfigError(f"tolerance must be an accuracy drop in [0, 1), e.g. 0.005, received {tolerance!r}.")
    if reference not in ("int16x8", "float"):
        raise ConfigError(f"reference must be 'int16x8' or 'float', received {reference!r}.")
    if weight_bits not in (8, 4):
        raise ConfigError(f"weight_bits must be 8 or 4, received {weight_bits!r}.")
    if isinstance(model_or_tflite, (bytes, bytearray, str)) or hasattr(model_or_tflite, "__fspath__"):
        float_data = read_tflite(model_or_tflite)
    else:
        from tfcompress.export.converter import convert

        float_data = convert(model_or_tflite, "float")
    session = QuantizationSession(float_data, representative, eval_data, num_samples=num_samples)
    int8_data, int16_data = session.quantize(), session.quantize(default_activation_bits=16)
    formats = {"int8": session.measure(int8_data), "int16x8": session.measure(int16_data),
               "float": {"accuracy": float(np.mean(session.float_outputs.reshape(len(session.y), -1).argmax(axis=1)
                                                   == session.y)), "output_rmse": 0.0,
                         "tflite_bytes": len(session.float_data),
                         "activation_bytes": inspect_tflite(session.float_data)["activation_bytes"]}}
    target = formats[reference]["accuracy"] - tolerance
    table = _sensitivity(session, int16_data)
    promoted, data = {}, int8_data
    for row in table:
        if session.measure(data)["accuracy"] >= target - 1e-9:
            break
        if not row["applied"]:
            continue
        promoted[row["scope"]] = 16
        data = session.quantize(promoted)
    mixed, whole = session.measure(data), formats["int16x8"]
    if promoted and whole["accuracy"] >= target - 1e-9 and whole["activation_bytes"] <= mixed["activation_bytes"] \
            and whole["tflite_bytes"] <= mixed["tflite_bytes"]:
        # the requantizations between int8 and int16 ops cost more than the int8 tensors save: take all-int16x8
        promoted = {op["scope"]: 16 for op in session.ops}
        data = int16_data
    int4 = {}
    if weight_bits == 4:
        for op in session.ops:
            if op["op"] not in INT4_OPS:
                continue
            trial = session.quantize(promoted, {**int4, op["scope"]: 4},
                                     default_activation_bits=16 if data == int16_data else 8)
            try:
                verify_tflite(trial, x=session.x[:8], require_integer=True)
            except ConversionError:
                continue
            if session.measure(trial)["accuracy"] >= target - 1e-9:
                int4[op["scope"]], data = 4, trial
    formats["mixed"] = session.measure(data)
    report = {
        "scheme": SCHEME, "quantizer": f"litert-quantizer {quantizer_version()}", "tolerance": tolerance,
        "reference": {"format": reference, "accuracy": formats[reference]["accuracy"]},
        "formats": formats, "sensitivity": table, "promoted": list(promoted), "int4_weights": list(int4),
        "chosen": "int8" if not promoted else "int16x8" if len(promoted) == len(session.ops) else "mixed",
        "precision": [{"op": op["op"], "scope": op["scope"], "activation_bits": promoted.get(op["scope"], 8),
                       "weight_bits": int4.get(op["scope"], 8) if op["op"] in WEIGHT_OPS else None}
                      for op in session.ops],
        "within_tolerance": formats["mixed"]["accuracy"] >= target - 1e-9,
        "verification": _verify(data, session, tflm),
    }
    return data, report


__all__ = ["layer_sensitivity", "mixed_precision", "quantizable_ops", "with_signature", "quantizer_version",
           "QuantizationSession"]
