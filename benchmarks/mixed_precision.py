"""int8 vs mixed vs int16x8 on the digits CNN of the tests, with and without a dead outlier channel.

The CNN is the one of ``tests/export/conftest.py`` (filters 8 and 16, dense 16, 15 epochs on sklearn digits).
The second model is the same CNN with channel 0 after ``bn1`` scaled by 1000 and its dense weights zeroed (the
outlier of ``tests/export/test_mixed.py``): the float model loses one of 16 channels, but int8 activations of the
tensors that carry it lose the other fifteen. The precision is chosen on the validation split
(``tfcompress.export.mixed_precision``, tolerance 0.5 pt below all-int16x8); accuracies are reported on the
validation and the test split; arenas are measured in TFLite Micro (``check_tflm``).

Writes ``benchmarks/results/mixed_precision.json`` and ``mixed_precision.md``.

Usage:
    python benchmarks/mixed_precision.py       # about 20 s on 2 cores
"""

import json
import os

import numpy as np

import tfcompress
from tfcompress._keras import keras, tf
from tfcompress.export import check_tflm, evaluate_tflite, inspect_tflite, mixed_precision
from tfcompress.export.mixed import QuantizationSession
from tfcompress.models import build_cnn

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def trained_cnn(data):
    tf.random.set_seed(1)
    model = build_cnn((8, 8, 1), 10, filters=(8, 16), dense_units=16)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(data["x_train"], data["y_train"], epochs=15, batch_size=32, verbose=0)
    return model


def with_outlier(model):
    out = keras.models.clone_model(model)
    out.set_weights(model.get_weights())
    bn = out.get_layer("bn1")
    gamma, beta, mean, var = bn.get_weights()
    gamma[0], beta[0] = gamma[0] * 1000, abs(beta[0]) * 1000 + 1000
    bn.set_weights([gamma, beta, mean, var])
    dense = out.get_layer("dense")
    kernel, bias = dense.get_weights()
    kernel[0::16] = 0
    dense.set_weights([kernel, bias])
    return out


def measure(name, model, data):
    val = (data["x_val"], data["y_val"])
    mixed, report = mixed_precision(model, data["x_train"], val, tolerance=0.005)
    # the same calibration for all three files
    session = QuantizationSession(tfcompress.export.convert(model, "float"), data["x_train"], val)
    files = {"int8": session.quantize(), "mixed": mixed, "int16x8": session.quantize(default_activation_bits=16)}
    rows = []
    for fmt, flat in files.items():
        tflm = check_tflm(flat, x=data["x_test"][:64])
        rows.append({"model": name, "format": fmt, "tflite_bytes": len(flat),
                     "activation_bytes": inspect_tflite(flat)["activation_bytes"],
                     "tflm_arena_bytes": tflm["arena_bytes"],
                     "val_accuracy": evaluate_tflite(flat, *val),
                     "test_accuracy": evaluate_tflite(flat, data["x_test"], data["y_test"])})
    rows[1]["promoted"] = [s.rstrip(";").split(";")[-1] for s in report["promoted"]]
    rows[1]["chosen"] = report["chosen"]
    rows[1]["sensitivity"] = [{"op": r["op"], "name": r["scope"].rstrip(";").split(";")[-1], "drop": r["drop"]}
                              for r in report["sensitivity"]]
    return rows


def main():
    data = tfcompress.load_digits_data()
    keras.utils.set_random_seed(1)
    model = trained_cnn(data)
    rows = measure("digits CNN", model, data) + measure("digits CNN, dead outlier channel", with_outlier(model),
                                                         data)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "mixed_precision.json"), "w") as f:
        json.dump(rows, f, indent=2, default=lambda v: v.item() if isinstance(v, np.generic) else str(v))
    lines = ["| model | format | .tflite bytes | activation bytes | TFLM arena | val accuracy | test accuracy | "
             "int16 ops |", "|" + " --- |" * 8]
    for r in rows:
        promoted = ", ".join(r.get("promoted", [])) or ("" if r["format"] != "mixed" else f"none ({r['chosen']})")
        lines.append(f"| {r['model']} | {r['format']} | {r['tflite_bytes']:,} | {r['activation_bytes']:,} | "
                     f"{r['tflm_arena_bytes']:,} | {r['val_accuracy']:.2%} | {r['test_accuracy']:.2%} | "
                     f"{promoted} |")
    for r in rows:
        if "sensitivity" in r:
            lines += ["", f"{r['model']}: drop when one op is int8 in int16x8: "
                      + ", ".join(f"{x['name']} {100 * x['drop']:+.2f} pt" for x in r["sensitivity"])]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, "mixed_precision.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
