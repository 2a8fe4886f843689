"""The run report: ``report.json`` (everything), ``report.md`` (readable on GitHub) and plots.

Every number is measured on a converted ``.tflite`` file in the LiteRT
interpreter. The whole-run line compares the final exported file with the
teacher's float32 file (and with the teacher's own int8 file): compression
ratio, speed-up ratio (measured; below 1 when the small model is slower on
this CPU) and accuracy drop.
"""

import os
import platform
import time
from types import SimpleNamespace

import yaml

from tfcompress.fileio import save_figure, write_json, write_text
from tfcompress.pipeline.measure import ratios
from tfcompress.versions import versions


def write_report(output_dir, config, teacher, rows, elapsed_s, latency_runs=200, resumed_stages=0, keras3=None,
                 devices=None):
    """Build the report, write ``report.json``, ``report.md`` and plots into ``output_dir``; return it.

    ``keras3`` is what ``write_keras3_student`` returned (the Keras 3 copy of the float student), or None. The
    search plot is drawn from the last row whose report holds search trials.
    """
    final = rows[-1]["after"] if rows else teacher["int8"]
    for row in rows:
        row["ratios_vs_before"] = ratios(row["before"], row["after"])
        row["ratios_vs_teacher"] = ratios(teacher["float32"], row["after"])
    summary = ratios(teacher["float32"], final)
    vs_int8 = ratios(teacher["int8"], final)
    summary.update({
        "compression_ratio_vs_int8_teacher": vs_int8["compression_ratio"],
        "speedup_ratio_vs_int8_teacher": vs_int8["speedup_ratio"],
        "accuracy_drop_vs_int8_teacher": vs_int8["accuracy_drop"],
        "teacher_accuracy": teacher["float32"]["accuracy"],
        "final_accuracy": final["accuracy"],
        "teacher_bytes": teacher["float32"]["tflite_bytes"],
        "final_bytes": final["tflite_bytes"],
        "final_format": final.get("format"),
        "split": final.get("split"),
    })
    guards = [(r["index"], (r.get("report") or {}).get("guard") or {}) for r in rows]
    summary["reverted_stages"] = [i for i, g in guards if g.get("kept") == "input"]
    summary["stages_with_accuracy_warnings"] = [i for i, g in guards if g.get("warning")]
    budget = budget_check(config, final)
    if budget is not None:
        summary["budget"] = budget
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": elapsed_s,
        "resumed_stages": resumed_stages,
        "summary": summary,
        "teacher": teacher,
        "stages": rows,
        "recipe": config,
        "measurement": {"interpreter": "ai_edge_litert.interpreter.Interpreter", "num_threads": 1,
                        "latency_runs": latency_runs, "latency_statistic": "median",
                        "machine": platform.machine(), "processor": platform.processor() or None},
        "versions": versions(),
        "files": {"model": "model.tflite", "card": "model.json", "plots": []},
    }
    if devices is not None:  # strategy, replicas, workers, batch sizes (pipeline/devices.py)
        report["devices"] = devices
    if keras3 is not None:
        report["keras3_student"] = keras3
        if keras3.get("file"):
            report["files"]["keras3_student"] = keras3["file"]
    plots = []
    if rows:
        plot_accuracy_vs_size(teacher, rows, os.path.join(output_dir, "accuracy_vs_size.png"))
        plots.append("accuracy_vs_size.png")
    searched = [r for r in rows if (r.get("report") or {}).get("trials")]
    if searched and _plot_search(searched[-1], os.path.join(output_dir, "search_pareto.png")):
        plots.append("search_pareto.png")
    report["files"]["plots"] = plots
    write_json(os.path.join(output_dir, "report.json"), report)
    write_text(os.path.join(output_dir, "report.md"), markdown(report))
    return report


#: Budget keys and the measured value of the final file each limits.
_BUDGET_KEYS = {"max_bytes": "tflite_bytes", "max_params": "params", "max_arena_bytes": "arena_bytes",
                "max_latency_us": "latency_median_us"}


def budget_check(config, final):
    """Whether the final file meets the run's budget (the recipe's ``budget``, else the search stage's).

    Returns:
        None without a budget; else ``{"limits": {...}, "checks": [{"key", "limit", "value", "met"}], "met"}``.
        A limit whose value was not measured counts as not met.
    """
    budget = (config or {}).get("budget")
    for entry in (config or {}).get("stages") or []:
        if budget is None and isinstance(entry, dict) and isinstance(entry.get("search"), dict):
            budget = entry["search"].get("budget")
    if not isinstance(budget, dict):
        return None
    from tfcompress.search.budget import expand_budget

    budget = expand_budget(budget)  # a board preset as its flash and RAM bounds
    checks = []
    for key, measured in _BUDGET_KEYS.items():
        if budget.get(key) is not None:
            value = final.get(measured)
            checks.append({"key": key, "limit": budget[key], "value": value,
                           "met": value is not None and value <= budget[key]})
    return {"limits": dict(budget), "checks": checks, "met": all(c["met"] for c in checks)}


def budget_line(budget):
    """One sentence on the budget check (for ``report.md`` and the command's last lines)."""
    units = {"max_bytes": "B", "max_params": "params", "max_arena_bytes": "B of TFLM arena", "max_latency_us": "µs"}
    fmt = {"max_latency_us": "{:,.1f}"}
    how = {"max_arena_bytes": "export with tflm: true", "max_latency_us": "set latency_runs above 0"}
    parts = [f"{_num(c['value'], fmt.get(c['key'], '{:,}'))} {units[c['key']]} {'≤' if c['met'] else '>'} "
             f"{_num(c['limit'], fmt.get(c['key'], '{:,}'))} ({c['key']})" if c["value"] is not None else
             f"{c['key']} {_num(c['limit'], fmt.get(c['key'], '{:,}'))}: not measured ({how.get(c['key'], '')})"
             for c in budget["checks"]]
    return ("met: " if budget["met"] else "NOT met: ") + "; ".join(parts)


def plot_accuracy_vs_size(teacher, rows, path):
    """Accuracy against ``.tflite`` size: the teacher (float32, int8) and the model after each stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    xs = [teacher["float32"]["tflite_bytes"], teacher["int8"]["tflite_bytes"]]
    ys = [100 * teacher["float32"]["accuracy"], 100 * teacher["int8"]["accuracy"]]
    ax.scatter(xs, ys, marker="s", color="tab:gray", zorder=3)
    for x, y, name in zip(xs, ys, ("teacher float32", "teacher int8")):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    sx = [r["after"]["tflite_bytes"] for r in rows]
    sy = [100 * r["after"]["accuracy"] for r in rows]
    ax.plot(sx, sy, "-", color="tab:blue", alpha=0.5, zorder=2)
    markers = "ovs^DPX*<>"
    for n, (x, y, r) in enumerate(zip(sx, sy, rows)):  # a legend, since stages often land on nearby points
        ax.scatter([x], [y], marker=markers[n % len(markers)], s=45, zorder=3,
                   label=f"{r['index']}. {r['stage']}: {y:.2f}%, {x:,} B")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_xscale("log")
    lo, hi = min(xs + sx), max(xs + sx)
    ax.set_xlim(lo / 1.5, hi * 3)
    ax.set_xlabel(".tflite size (bytes, log scale)")
    ax.set_ylabel(f"accuracy on {rows[-1]['after'].get('split', 'test')} (%)")
    ax.set_title("Accuracy vs size after each stage (measured .tflite files)")
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)


def _plot_search(row, path):
    """The search's Pareto plot via ``tfcompress.search.plot_pareto`` from a search row's saved report (trials,
    front) and its budget; False if there is nothing to plot."""
    try:
        from tfcompress.search import plot_pareto
        from tfcompress.search.budget import Budget
    except ImportError:
        return False
    saved = row.get("report") or {}
    try:
        budget = Budget.coerce((row.get("config") or {}).get("budget"))
    except Exception:  # noqa: BLE001 - the plot's budget line is optional
        budget = None
    result = SimpleNamespace(trials=saved["trials"], pareto=saved.get("pareto", []), budget=budget)
    try:
        plot_pareto(result, path)
    except Exception:  # noqa: BLE001 - a plot must not fail a finished run
        return False
    return os.path.exists(path)


def _num(value, fmt="{:,}"):
    return "n/a" if value is None else fmt.format(value)


def _pp(drop):
    return _num(None if drop is None else 100 * drop, "{:+.2f} pp")


def _metrics_cells(m):
    return [_num(m.get("params")), _num(m.get("tflite_bytes")), _num(m.get("gzip_bytes")),
            _num(m.get("accuracy"), "{:.2%}"), _num(m.get("latency_median_us"), "{:.1f}")]


def _ratio_cells(r):
    return [_num(r.get("compression_ratio"), "{:.2f}×"), _num(r.get("speedup_ratio"), "{:.2f}×"),
            _num(None if r.get("accuracy_drop") is None else 100 * r["accuracy_drop"], "{:+.2f} pp")]


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report):
    """``report.md``: the whole-run line, the teacher, a table per stage, embedded plots."""
    s = report["summary"]
    meas = report["measurement"]
    teacher = report["teacher"]
    split = s.get("split") or "test"
    lines = ["# tfcompress report", ""]
    lines.append(
        f"**Whole run:** {_num(s.get('compression_ratio'), '{:.2f}×')} smaller "
        f"({_num(s['teacher_bytes'])} B float32 teacher → {_num(s['final_bytes'])} B {s.get('final_format')}), "
        f"speed-up {_num(s.get('speedup_ratio'), '{:.2f}×')} (measured), accuracy "
        f"{_num(s['teacher_accuracy'], '{:.2%}')} → {_num(s['final_accuracy'], '{:.2%}')} "
        f"(drop {_pp(s.get('accuracy_drop'))}) "
        f"on the {split} split.")
    lines.append("")
    lines.append(
        f"Against the teacher's own int8 file: {_num(s.get('compression_ratio_vs_int8_teacher'), '{:.2f}×')} "
        f"smaller, speed-up {_num(s.get('speedup_ratio_vs_int8_teacher'), '{:.2f}×')}, accuracy drop "
        f"{_pp(s.get('accuracy_drop_vs_int8_teacher'))}.")
    lines.append("")
    if s.get("budget"):
        lines += [f"**Budget:** {budget_line(s['budget'])}.", ""]
    for r in report["stages"]:
        guard = (r.get("report") or {}).get("guard") or {}
        if guard.get("reason"):
            lines += [f"**Stage {r['index']} ({_stage_name(r)}):** {guard['reason']}.", ""]
    k3 = report.get("keras3_student")
    if k3 and k3.get("file"):
        lines += [f"**Keras 3 student:** `{k3['file']}` (float, the model after stage {k3['stage']}): accuracy "
                  f"{k3['accuracy']:.2%} on the {k3['split']} split (tf_keras: {k3['tf_keras_accuracy']:.2%}).", ""]
    elif k3:
        lines += [f"**Keras 3 student:** not written: {k3['error']}", ""]
    lines.append(f"Every number is measured on a converted `.tflite` file: accuracy on the {split} split, latency as "
                 f"the median of {meas['latency_runs']} runs in `{meas['interpreter']}` with "
                 f"{meas['num_threads']} thread on {meas['machine']} (default delegate). A speed-up below 1× "
                 "means the file ran slower here; int8 pays off mostly on phones, NPUs and microcontrollers.")
    lines += ["", "## Teacher", ""]
    header = ["format", "params", ".tflite bytes", "gzip bytes", "accuracy", "median latency (µs)"]
    lines.append(_table(header, [[fmt] + _metrics_cells(teacher[fmt]) for fmt in ("float32", "int8")]))
    lines += ["", "## Stages", ""]
    header = ["#", "stage", "params", ".tflite bytes", "gzip bytes", "accuracy", "latency (µs)",
              "compression vs teacher", "speed-up vs teacher", "accuracy drop vs teacher", "time (s)"]
    lines.append(_table(header, [[r["index"], _stage_name(r)] + _metrics_cells(r["after"])
                                 + _ratio_cells(r["ratios_vs_teacher"]) + [_num(r["elapsed_s"], "{:.1f}")]
                                 for r in report["stages"]]))
    for r in report["stages"]:
        lines += ["", f"### {r['index']}. {_stage_name(r)}", ""]
        options = yaml.safe_dump({r["stage"]: r["config"]}, default_flow_style=True, width=10**6,
                                 sort_keys=False).strip()
        lines += [f"Recipe entry: `{options}`; took {r['elapsed_s']:.1f} s.", ""]
        header = ["", "params", ".tflite bytes", "gzip bytes", "accuracy", "latency (µs)"]
        lines.append(_table(header, [["before"] + _metrics_cells(r["before"]),
                                     ["after"] + _metrics_cells(r["after"])]))
        comp, speed, drop = _ratio_cells(r["ratios_vs_before"])
        lines += ["", f"This stage alone: compression {comp}, speed-up {speed}, accuracy drop {drop}."]
        guard = (r.get("report") or {}).get("guard") or {}
        if guard.get("judged"):
            lines += ["", f"Judged on the int8 validation accuracy: {100 * guard['val_accuracy_before']:.2f}% → "
                          f"{100 * guard['val_accuracy_after']:.2f}% (tolerance {100 * guard['tolerance']:.2f} pt): "
                          + (guard["reason"] if guard.get("reason") else "kept") + "."]
        trials = (r.get("report") or {}).get("trials_markdown")
        if trials:  # the search stage's trials (validation accuracy of each distilled candidate)
            lines += ["", "Trials:", "", trials.strip()]
        mixed = ((r.get("report") or {}).get("card") or {}).get("mixed_precision")
        if mixed:  # an export with format "mixed": the per-op precision and sensitivity
            lines += ["", _mixed_markdown(mixed)]
    if report["files"]["plots"]:
        lines += ["", "## Plots", ""]
        for plot in report["files"]["plots"]:
            lines += [f"![{plot[:-4].replace('_', ' ')}]({plot})", ""]
    v = report["versions"]
    lines += ["", "---", "", "Made with " + ", ".join(f"{k} {val}" for k, val in v.items() if val)
              + f" in {report['elapsed_s']:.0f} s" + (f" (resumed after {report['resumed_stages']} finished "
                                                        "stages)" if report["resumed_stages"] else "") + "."]
    return "\n".join(lines) + "\n"


def _mixed_markdown(mixed):
    """The mixed-precision part of an export: int8 / mixed / int16x8 and a row per op (``tfcompress.export.mixed``)."""
    f = mixed["formats"]
    lines = [f"Mixed precision ({mixed['quantizer']}; chosen: {mixed['chosen']}, tolerance "
             f"{100 * mixed['tolerance']:.2f} pt below {mixed['reference']['format']}): accuracy "
             + ", ".join(f"{name} {f[name]['accuracy']:.2%} ({f[name]['tflite_bytes']:,} B, "
                         f"{f[name]['activation_bytes']:,} B activations)" for name in ("int8", "mixed", "int16x8"))
             + f". Sensitivity: {mixed['scheme']}.", ""]
    bits = {p["scope"]: p for p in mixed["precision"]}
    rows = [[row["op"], f"`{row['scope'].rstrip(';')}`", bits[row["scope"]]["activation_bits"],
             _num(bits[row["scope"]]["weight_bits"]), f"{row['accuracy']:.2%}", _pp(row["drop"])]
            for row in mixed["sensitivity"]]
    lines.append(_table(["op", "name", "activation bits", "weight bits", "accuracy with this op int8",
                         "drop"], rows))
    return "\n".join(lines)


def _stage_name(row):
    return f"{row['stage']} ({row['method']})" if row.get("method") else row["stage"]


__all__ = ["write_report", "markdown", "plot_accuracy_vs_size", "budget_check", "budget_line"]
