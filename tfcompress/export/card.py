"""Model card: the JSON written beside an exported ``.tflite`` file (what it is, how good, how fast, from what)."""

import datetime
import hashlib
import json

from tfcompress.export.runtime import LATENCY_NOTE
from tfcompress.versions import versions


def stage_records(stages):
    """Stage provenance as JSON-able dicts: Stage objects give ``{"name", "method", "config", "report"}``."""
    records = []
    for stage in stages or []:
        if hasattr(stage, "get_config"):
            record = {"name": getattr(stage, "name", type(stage).__name__),
                      "method": getattr(stage, "method", None), "config": stage.get_config()}
            report = getattr(stage, "report", None)
            if report:
                record["report"] = report
            records.append(record)
        else:
            records.append(stage)
    return json.loads(json.dumps(records, default=str))  # JSON-able, numpy values as strings at worst


def build_model_card(data, info, format, verification=None, latency=None, stages=None, keras_info=None,
                     file_name=None):
    """Assemble the model card dict.

    Args:
        data: the ``.tflite`` bytes.
        info: ``inspect_tflite`` result for them.
        format: conversion format.
        verification: ``verify_tflite`` result. Defaults to None.
        latency: ``measure_latency`` result. Defaults to None.
        stages: stage configs or Stage objects that produced the model. Defaults to None.
        keras_info: facts about the Keras source (name, params, sparsity). Defaults to None.
        file_name: the file's base name. Defaults to None.
    """
    verification = verification or {}
    accuracy = None
    if "tflite_accuracy" in verification:
        accuracy = {key: verification.get(key) for key in
                    ("keras_accuracy", "tflite_accuracy", "accuracy_drop", "num_samples", "max_abs_diff",
                     "mean_abs_diff", "top1_agreement")}
        accuracy = {"keras": accuracy.pop("keras_accuracy"), "tflite": accuracy.pop("tflite_accuracy"),
                    "drop": accuracy.pop("accuracy_drop"), **accuracy}
    return {
        "card_version": 1,
        "file": {"name": file_name, "bytes": info["file_bytes"], "gzip_bytes": info["gzip_bytes"],
                 "sha256": hashlib.sha256(data).hexdigest()},
        "format": format,
        "inputs": info["inputs"],
        "outputs": info["outputs"],
        "params": info["params"],
        "sparsity": info["sparsity"],
        "is_fully_integer": info["is_fully_integer"],
        "float_ops": info["float_ops"],
        "ops": info["ops"],
        "tensor_dtypes": info["tensor_dtypes"],
        "activation_bytes": info["activation_bytes"],
        "keras_model": keras_info,
        "accuracy": accuracy,
        "latency": latency,
        "stages": stage_records(stages),
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "note": LATENCY_NOTE,
    }
