"""What is inside a TFLite file: ops, tensors, quantization parameters, sizes, sparsity, integer-only check."""

import collections
import gzip

import numpy as np

from tfcompress._compat import interpreter_ops, tflite_schema
from tfcompress.errors import ConversionError
from tfcompress.fileio import read_tflite
from tfcompress.export.runtime import make_interpreter

FLOAT_DTYPES = ("float32", "float16", "float64")
# Ops whose float side is allowed at the model boundary of an int8 model with float I/O.
_BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")


def _dtype_name(dtype):
    return np.dtype(dtype).name


def _io_detail(d):
    scale, zero_point = d["quantization"]
    params = d["quantization_parameters"]
    return {"name": d["name"], "index": int(d["index"]), "shape": [int(s) for s in d["shape_signature"]],
            "dtype": _dtype_name(d["dtype"]), "scale": float(scale), "zero_point": int(zero_point),
            "per_channel_scales": len(params["scales"]) > 1}


def _constant_tensors(data):
    """Indices of tensors in subgraph 0 that hold constant data (weights), read from the flatbuffer."""
    schema = tflite_schema()

    try:
        model = schema.Model.GetRootAs(data, 0)
        graph = model.Subgraphs(0)
        constant = set()
        for i in range(graph.TensorsLength()):
            buf = model.Buffers(graph.Tensors(i).Buffer())
            if buf is not None and (buf.DataLength() > 0 or buf.Offset() > 1):
                constant.add(i)
        return constant
    except Exception as exc:  # a damaged flatbuffer raises IndexError/struct.error deep inside
        raise ConversionError(f"cannot read the tensors of this TFLite flatbuffer ({type(exc).__name__}); "
                              "the file is damaged. Re-export it.") from None


def integer_violations(ops, tensors, inputs, outputs):
    """Ops that compute in float inside a model that should be fully integer.

    Float tensors are allowed only as model inputs/outputs consumed/produced by QUANTIZE/DEQUANTIZE ops (the
    int8 model with float I/O).  Returns a list of ``"OP (tensor NAME: float32)"`` strings.
    """
    by_index = {t["index"]: t for t in tensors}
    io_indices = {d["index"] for d in inputs} | {d["index"] for d in outputs}
    bad = []
    for op in ops:
        touched = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0 and i in by_index]
        floats = [by_index[i] for i in touched if _dtype_name(by_index[i]["dtype"]) in FLOAT_DTYPES]
        if not floats:
            continue
        if op["op_name"] in _BOUNDARY_OPS and all(t["index"] in io_indices for t in floats):
            continue
        t = floats[0]
        bad.append(f"{op['op_name']} (tensor {t['name']!r}: {_dtype_name(t['dtype'])})")
    # ops that compute in float first, the (de)quantize ops around them after
    return sorted(bad, key=lambda s: s.startswith(_BOUNDARY_OPS))


def inspect_tflite(tflite):
    """Describe a TFLite model: ops with counts, input/output details, tensor dtypes, sizes, integer-only check.

    Args:
        tflite: model bytes or ``.tflite`` path.

    Returns:
        dict with ``ops`` (op name → count, in first-seen order), ``op_sequence``, ``inputs``/``outputs`` (name,
        shape, dtype, scale, zero_point), ``tensor_dtypes`` (dtype → count), ``file_bytes``, ``gzip_bytes``,
        ``params`` (constant elements), ``constant_bytes``, ``activation_bytes`` (sum of non-constant tensor
        sizes at batch 1), ``sparsity`` (share of zero constant values in weight tensors), ``is_fully_integer``
        and ``float_ops`` (ops computing in float, empty when fully integer).
    """
    data = read_tflite(tflite)
    interpreter = make_interpreter(data, delegates=False)
    ops = interpreter_ops(interpreter)
    tensors = interpreter.get_tensor_details()
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    constant = _constant_tensors(data)
    counts = collections.Counter(op["op_name"] for op in ops)
    dtypes = collections.Counter(_dtype_name(t["dtype"]) for t in tensors)
    params = constant_bytes = activation_bytes = zeros = weight_values = 0
    for t in tensors:
        nbytes = int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
        if t["index"] in constant:
            n = int(np.prod(t["shape"]))
            params += n
            constant_bytes += nbytes
            if len(t["shape"]) >= 2:  # kernels, not biases or shape vectors
                value = interpreter.get_tensor(t["index"])
                scale_zp = t["quantization_parameters"]["zero_points"]
                zero = int(scale_zp[0]) if len(scale_zp) == 1 else 0
                zeros += int(np.count_nonzero(value == zero))
                weight_values += n
        else:
            activation_bytes += nbytes
    float_ops = integer_violations(ops, tensors, inputs, outputs)
    return {
        "ops": dict(counts),
        "op_sequence": [op["op_name"] for op in ops],
        "inputs": [_io_detail(d) for d in inputs],
        "outputs": [_io_detail(d) for d in outputs],
        "tensor_dtypes": dict(dtypes),
        "num_tensors": len(tensors),
        "file_bytes": len(data),
        "gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "params": params,
        "constant_bytes": constant_bytes,
        "activation_bytes": activation_bytes,
        "sparsity": (zeros / weight_values) if weight_values else 0.0,
        "is_fully_integer": not float_ops,
        "float_ops": float_ops,
    }


def keras_sparsity(model):
    """Share of exactly-zero values among the kernels (weights with 2+ dimensions) of a Keras model."""
    zeros = total = 0
    for w in model.weights:
        name = w.name.lower()
        if len(w.shape) < 2 or "mask" in name or "threshold" in name:
            continue
        value = w.numpy()
        zeros += int(np.count_nonzero(value == 0))
        total += value.size
    return zeros / total if total else 0.0


def model_size(model_or_bytes, format="dynamic", representative_data=None):
    """Measured size of a model: parameters, TFLite bytes, gzip bytes and sparsity.

    For a Keras model the sizes are measured on a real conversion (``format``, "dynamic" by default: int8 weights,
    no data needed, so its size is close to that of the final int8 file); for TFLite bytes or a path they are
    the file's own.

    Args:
        model_or_bytes: a tf_keras model, TFLite bytes, or a ``.tflite`` path.
        format: conversion format for a Keras model (see ``convert``). Defaults to "dynamic".
        representative_data: needed when ``format`` is an int8 format. Defaults to None.

    Returns:
        dict with ``params``, ``tflite_bytes``, ``gzip_bytes``, ``sparsity`` (share of zero weights in kernels)
        and ``format`` (the conversion format, or None for a given file).
    """
    from tfcompress._keras import keras

    if isinstance(model_or_bytes, keras.Model):
        from tfcompress.export.converter import _strip_pruning, convert

        model = _strip_pruning(model_or_bytes)
        data = convert(model, format=format, representative_data=representative_data)
        return {"params": int(model.count_params()), "tflite_bytes": len(data),
                "gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
                "sparsity": keras_sparsity(model), "format": format}
    info = inspect_tflite(model_or_bytes)
    return {"params": info["params"], "tflite_bytes": info["file_bytes"], "gzip_bytes": info["gzip_bytes"],
            "sparsity": info["sparsity"], "format": None}
