"""Pareto front of accuracy against int8 size, the trials table and its plot."""

from tfcompress.fileio import atomic_path


def pareto_front(rows, size_key="int8_bytes", score_key="val_accuracy"):
    """The trials no other trial beats on both size (smaller) and accuracy (higher).

    Args:
        rows: dicts holding ``size_key`` and ``score_key``; rows missing either are ignored.
        size_key: the cost to minimise. Defaults to "int8_bytes".
        score_key: the value to maximise. Defaults to "val_accuracy".

    Returns:
        The non-dominated rows sorted by size (ascending); accuracy strictly rises along the list.

    Example:
        >>> rows = [{"int8_bytes": 10, "val_accuracy": 0.5}, {"int8_bytes": 20, "val_accuracy": 0.4},
        ...         {"int8_bytes": 30, "val_accuracy": 0.9}]
        >>> [r["int8_bytes"] for r in pareto_front(rows)]
        [10, 30]
    """
    usable = [r for r in rows if r.get(size_key) is not None and r.get(score_key) is not None]
    usable.sort(key=lambda r: (r[size_key], -r[score_key]))
    front, best = [], None
    for row in usable:
        if best is None or row[score_key] > best:
            front.append(row)
            best = row[score_key]
    return front


_COLUMNS = (("trial_id", "trial"), ("status", "status"), ("val_accuracy", "val acc"), ("score", "score"),
            ("params", "params"), ("int8_bytes", "int8 bytes"), ("arena_bytes", "TFLM arena B"),
            ("latency_us", "latency µs"),
            ("train_seconds", "train s"), ("draws", "draws"), ("hyperparameters", "hyperparameters"))


def trials_markdown(rows, pareto_ids=()):
    """A Markdown table of trials; trials on the Pareto front are marked with ``*``. The TFLM arena column is
    shown when a trial measured it (a budget with ``max_arena_bytes``)."""
    columns = [c for c in _COLUMNS if c[0] != "arena_bytes" or any(r.get("arena_bytes") for r in rows)]
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            if key == "trial_id" and value in pareto_ids:
                value = f"{value}*"
            cells.append(_cell(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items() if not str(k).startswith("tuner/"))
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value).replace("|", "/")


def plot_pareto(result, path, title="Student search: accuracy vs int8 size"):
    """Plot every trained trial and the Pareto front of a ``SearchResult`` to a PNG (written atomically).

    Uses matplotlib's Agg canvas directly, so the global backend is not changed.

    Args:
        result: a ``SearchResult`` (or anything with ``trials``, ``pareto`` and ``budget``).
        path: the ``.png`` file to write.
        title: plot title. Defaults to "Student search: accuracy vs int8 size".

    Returns:
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    done = [r for r in result.trials if r.get("val_accuracy") is not None and r.get("int8_bytes") is not None]
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter([r["int8_bytes"] / 1024 for r in done], [r["val_accuracy"] for r in done], c="0.6",
               label=f"trials ({len(done)})")
    front = list(result.pareto)
    ax.plot([r["int8_bytes"] / 1024 for r in front], [r["val_accuracy"] for r in front], "o-", c="tab:red",
            label="Pareto front")
    budget = getattr(result, "budget", None)
    if budget is not None and budget.max_bytes:
        ax.axvline(budget.max_bytes / 1024, ls="--", c="k", lw=1, label="max_bytes")
    ax.set_xlabel("int8 .tflite size (KiB)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path


__all__ = ["pareto_front", "trials_markdown", "plot_pareto"]
