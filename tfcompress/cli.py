"""The ``tfcompress`` command.

Subcommands::

    tfcompress run RECIPE.yaml [--quiet] [--debug] [--unsafe-load] [--custom-objects MODULE]
                               [--strategy mirrored|multi_worker] [--mixed-precision]
    tfcompress demo [--output DIR] [--quick] [--update-bundled] [--quiet] [--debug]
    tfcompress export|evaluate|inspect ...   (see tfcompress.export.commands)

A tfcompress error or a missing file prints ``error: <message>`` on one line
to stderr and exits with status 2 (with ``--debug``: the full traceback).
An interrupted run exits with 130; running it again resumes it.
"""

import argparse
import sys


def _common(debug_only=False):
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", help="show the full traceback of an error (and what "
                        "TensorFlow printed)")
    parent.add_argument("--verbose", action="store_true", help="show the libraries' own output (TensorFlow, the "
                        "converter, Keras per-epoch lines)")
    if not debug_only:
        parent.add_argument("--quiet", action="store_true", help="no progress lines")
    return parent


def build_parser():
    """The argument parser of ``tfcompress`` (subcommands ``run``, ``demo`` and the export commands)."""
    parser = argparse.ArgumentParser(prog="tfcompress", description="Distil, prune, quantize and search Keras "
                                     "models into verified int8 TFLite files.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", parents=[_common()], help="run a YAML recipe",
                         description="Run a compression recipe (YAML): read the teacher and the data, apply the "
                         "stages, write model.tflite, model.json, report.json, report.md and plots into the "
                         "recipe's output folder. A killed run resumes from its last finished stage.")
    run.add_argument("recipe", metavar="RECIPE.yaml", help="the recipe file")
    run.add_argument("--unsafe-load", action="store_true",
                     help="allow Lambda layers in model files (runs code stored in them; only for trusted files)")
    run.add_argument("--custom-objects", metavar="MODULE", default=None,
                     help="import MODULE (a dotted name or a .py file) for the custom Keras classes of the teacher "
                     "(runs that module's code; only for your own code)")
    run.add_argument("--strategy", choices=("mirrored", "multi_worker"), default=None,
                     help="train every stage under a tf.distribute strategy: mirrored (all local GPUs, else the "
                     "CPU) or multi_worker (one process per worker, each with its own TF_CONFIG; the chief writes "
                     "the outputs). Batch sizes are then per replica: global batch = batch_size x replicas; the "
                     "learning rate is used as given. Overrides the recipe's strategy:")
    run.add_argument("--mixed-precision", action="store_true", default=None,
                     help="train the stages under Keras's mixed_float16 policy (needs a GPU); the exported "
                     ".tflite files are still converted from float32 weights")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", parents=[_common()], help="compress a digits CNN end to end (no downloads)",
                          description="Train a teacher on scikit-learn's digits, then search, distil, prune, "
                          "quantize-aware train and export int8; a few minutes on 2 cores.")
    demo.add_argument("--output", default=None, metavar="DIR",
                      help="output folder (default: ~/.cache/tfcompress/demo, outside any checkout)")
    demo.add_argument("--quick", action="store_true", help="a much smaller run, for smoke tests (< 1 min)")
    demo.add_argument("--update-bundled", action="store_true",
                      help="also replace tflite_models/digits_int8.* of this checkout (on purpose only)")
    demo.set_defaults(func=_cmd_demo)

    from tfcompress.export import commands

    commands.add_parsers(sub, parents=[_common(debug_only=True)])
    return parser


def _cmd_run(args):
    from tfcompress.search.cluster import run_recipe  # one machine, or its part of a search on many machines

    custom = None
    if args.custom_objects:
        from tfcompress.interop.teacher import custom_objects_from_module

        custom = custom_objects_from_module(args.custom_objects)
    run_recipe(args.recipe, verbose=_verbosity(args), unsafe_load=args.unsafe_load,
               log=(lambda line: None) if args.quiet else None, custom_objects=custom,
               strategy=args.strategy, mixed_precision=args.mixed_precision)
    return 0


def _cmd_demo(args):
    from tfcompress.pipeline.demo import run_demo

    report = run_demo(output=args.output, quick=args.quick, verbose=_verbosity(args),
                      update_bundled=args.update_bundled)
    if args.quiet:
        print(report["model_path"])
    return 0


def _verbosity(args):
    """0 with --quiet, 2 with --verbose (the libraries' own lines too), else 1 (tfcompress's progress lines)."""
    return 0 if args.quiet else (2 if getattr(args, "verbose", False) else 1)


def _show_native(console):
    native = console.last_native_output().strip()
    if native:
        print(f"[what the libraries printed]\n{native}", file=sys.stderr)


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv=None):
    """Entry point of the ``tfcompress`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    from tfcompress.errors import TFCompressError

    from tfcompress import console

    try:
        with console.quiet_command(verbose=getattr(args, "verbose", False)):
            status = args.func(args)
    except (TFCompressError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if debug:
            _show_native(console)
            raise
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.strerror or 'cannot open'}: {exc.filename}"
        else:
            message = _one_line(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            _show_native(console)
            raise
        print("error: interrupted; run the same command again to resume from the last finished stage",
              file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
