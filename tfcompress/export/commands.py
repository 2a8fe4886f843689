"""Command-line subcommands of the exporter: ``export``, ``evaluate``, ``inspect``.

``add_parsers(subparsers)`` registers them on the ``tfcompress`` parser; each handler is ``fn(args) -> int``.
Errors are tfcompress errors with one-line messages (the CLI main prints ``error: <msg>`` and exits 2).
"""

import json
import os
import zipfile

import numpy as np

from tfcompress.errors import DataError

_FORMATS = ("int8", "int8_float_io", "int16x8", "mixed", "float16", "dynamic", "float")


def add_parsers(subparsers, parents=()):
    """Add the ``export``, ``evaluate`` and ``inspect`` subcommands to an ``argparse`` subparsers object
    (``parents``: parsers of the options every command shares, e.g. ``--debug``)."""
    parents = list(parents)
    p = subparsers.add_parser("export", parents=parents, help="convert a saved Keras model to a verified .tflite file + model card")
    p.add_argument("model", metavar="MODEL.keras", help="saved Keras model (.keras or .h5)")
    p.add_argument("--format", default="int8", choices=_FORMATS, help="TFLite format (default: int8)")
    p.add_argument("--data", metavar="DATA.npz", help="data: x_train calibrates int8, x_test (or x_val) is "
                   "used for accuracy; required for int8 formats")
    p.add_argument("--output", "-o", metavar="PATH", help="output .tflite path (default: MODEL with .tflite)")
    p.add_argument("--c-array", action="store_true", help="also write a C array (.cc/.h) for TFLite Micro")
    p.add_argument("--tflm", action="store_true", help="check the model in TFLite Micro: ops, measured arena "
                   "(the C header's arena with --c-array), outputs against LiteRT; nothing is written if it fails")
    p.add_argument("--tolerance", type=float, default=0.005, help="--format mixed: largest accuracy drop below "
                   "int16x8 on x_val (else the eval split), chosen per op (default: 0.005)")
    p.add_argument("--num-samples", type=int, default=300, help="representative samples (default: 300)")
    p.add_argument("--latency-runs", type=int, default=200, help="timed inferences, 0 to skip (default: 200)")
    p.set_defaults(func=run_export)

    p = subparsers.add_parser("evaluate", parents=parents, help="accuracy and latency of a .tflite model on a data split")
    p.add_argument("model", metavar="MODEL.tflite")
    p.add_argument("data", metavar="DATA.npz")
    p.add_argument("--split", default="test", help="split to evaluate: train, val or test (default: test)")
    p.add_argument("--runs", type=int, default=200, help="timed inferences for latency, 0 to skip (default: 200)")
    p.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser("inspect", parents=parents, help="ops, tensor dtypes, sizes and quantization of a .tflite model")
    p.add_argument("model", metavar="MODEL.tflite")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_inspect)
    return subparsers


def _load_split(path, split):
    """``(x, y)`` of one split of an .npz file (only that split's arrays are needed)."""
    from tfcompress.data import check_arrays

    if not os.path.exists(path):
        raise DataError(f"data file {path!r} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            arrays = {k: npz[k] for k in (f"x_{split}", f"y_{split}") if k in keys}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"data file {path!r} is not a readable .npz archive ({exc}).") from None
    if len(arrays) != 2:
        raise DataError(f"{path!r} has no x_{split}/y_{split} arrays (it has {sorted(keys)}); "
                        "choose another --split.")
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    check_arrays(x, y, name=f"{path}:{split}")
    return x.astype("float32"), y


def run_export(args):
    """Handler of ``tfcompress export``."""
    from tfcompress.data import load_npz
    from tfcompress.export.exporter import export_tflite
    from tfcompress.fileio import load_model

    from tfcompress.errors import ConfigError
    from tfcompress.export.converter import INTEGER_FORMATS, _is_qat_model

    model = load_model(args.model)
    if args.format == "mixed" and not args.data:
        raise ConfigError("--format mixed needs --data DATA.npz: x_train calibrates, x_val (else x_test) chooses "
                          "the precision of each op.")
    if args.format in INTEGER_FORMATS and not args.data and not _is_qat_model(model):
        raise ConfigError(f"--format {args.format} needs --data DATA.npz: its x_train calibrates the int8 ranges "
                          "(and x_test or x_val measures accuracy). Or use --format dynamic/float16.")
    representative, eval_data, selection = None, None, None
    if args.data:
        data = load_npz(args.data)
        representative = data["x_train"]
        split = "test" if "x_test" in data else "val"
        eval_data = (data[f"x_{split}"], data[f"y_{split}"])
        selection = (data["x_val"], data["y_val"]) if "x_val" in data else None
    output = args.output or os.path.splitext(args.model)[0] + ".tflite"
    card = export_tflite(model, output, format=args.format, representative_data=representative,
                         eval_data=eval_data, num_samples=args.num_samples, latency_runs=args.latency_runs,
                         c_array=args.c_array, tflm=args.tflm, tolerance=args.tolerance, selection_data=selection)
    print(f"wrote {output} ({card['file']['bytes']} bytes, gzip {card['file']['gzip_bytes']}, "
          f"format {card['format']}, fully integer: {card['is_fully_integer']})")
    if card["accuracy"]:
        acc = card["accuracy"]
        print(f"accuracy on {acc['num_samples']} samples: keras {acc['keras']:.4f}, tflite {acc['tflite']:.4f} "
              f"(drop {acc['drop'] * 100:+.2f} points)")
    if card["latency"]:
        lat = card["latency"]
        print(f"latency: median {lat['median_us']:.1f} us, p90 {lat['p90_us']:.1f} us "
              f"({lat['num_threads']} thread, {lat['delegate']}; host CPU, a proxy for a phone)")
    if card.get("mixed_precision"):
        mixed = card["mixed_precision"]
        print(f"mixed precision ({mixed['chosen']}): {len(mixed['promoted'])} of {len(mixed['precision'])} ops with "
              "int16 activations; accuracy " + ", ".join(f"{name} {mixed['formats'][name]['accuracy']:.4f}"
                                                       for name in ("int8", "mixed", "int16x8")) + " (x_val)")
    if card.get("tflm"):
        from tfcompress.export.tflm import format_tflm

        print(format_tflm(card["tflm"]))
    for key, value in card["paths"].items():
        if key != "tflite":
            print(f"wrote {value}")
    return 0


def run_evaluate(args):
    """Handler of ``tfcompress evaluate``."""
    from tfcompress.fileio import read_tflite
    from tfcompress.export.runtime import evaluate_tflite, measure_latency

    data = read_tflite(args.model)
    x, y = _load_split(args.data, args.split)
    result = {"model": args.model, "split": args.split, "num_samples": int(len(x)),
              "accuracy": evaluate_tflite(data, x, y)}
    if args.runs:
        result["latency"] = measure_latency(data, runs=args.runs, num_threads=args.threads)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.model}: accuracy {result['accuracy']:.4f} on {len(x)} {args.split} samples")
    if args.runs:
        lat = result["latency"]
        print(f"latency: median {lat['median_us']:.1f} us, p90 {lat['p90_us']:.1f} us over {lat['runs']} runs "
              f"({lat['num_threads']} thread, {lat['delegate']}, {lat['host']['machine']}); {lat['note']}")
    return 0


def _table(rows, headers):
    widths = [max(len(str(v)) for v in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*(str(v) for v in row)) for row in rows])


def format_inspection(info, name="model"):
    """Readable text of an ``inspect_tflite`` result."""
    lines = [f"{name}: {info['file_bytes']} bytes (gzip {info['gzip_bytes']}), {info['params']} constant values, "
             f"sparsity {info['sparsity']:.1%}, fully integer: {info['is_fully_integer']}", ""]
    io_rows = [(kind, d["name"], "x".join(str(s) for s in d["shape"]), d["dtype"], f"{d['scale']:.6g}",
                d["zero_point"]) for kind, group in (("input", info["inputs"]), ("output", info["outputs"]))
               for d in group]
    lines += [_table(io_rows, ("tensor", "name", "shape", "dtype", "scale", "zero point")), ""]
    lines += [_table(sorted(info["ops"].items(), key=lambda kv: -kv[1]), ("op", "count")), ""]
    lines += [_table(sorted(info["tensor_dtypes"].items()), ("dtype", "tensors"))]
    if info["float_ops"]:
        lines += ["", "ops computing in float:"] + [f"  {op}" for op in info["float_ops"]]
    return "\n".join(lines)


def run_inspect(args):
    """Handler of ``tfcompress inspect``."""
    from tfcompress.export.inspection import inspect_tflite

    info = inspect_tflite(args.model)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_inspection(info, name=args.model))
    return 0
