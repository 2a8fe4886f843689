"""The default stages of a recipe that gives a ``budget:`` and no ``stages:``.

``search → distill → qat → int8 export``, each stage trained with the teacher. The values were chosen with
``benchmarks/anchors.py`` (digits; results in ``benchmarks/results/anchors.md``): against TFMOT alone on the
teacher, the keras.io distillation recipe and training from scratch at the same size.

* search: 16 trials of 8 epochs each at the small-student rate, ranked by validation accuracy;
  candidates whose int8 file would use less than 60% of ``max_bytes`` are skipped untrained (``min_fill``;
  without it most trained trials were far below the budget). ``benchmarks/search_quality.py`` showed the
  trial score tracking the fully distilled accuracy (Spearman +0.73 over 16 candidates) while the file size
  did not (-0.35: deep separable students fill bytes with operators, not weights), so the trials are ranked
  on accuracy alone (the MnasNet reward, which favours smaller files, was the default before) and there are
  twice as many of them;
* distill: a long final distillation at the rate that is best for small students trained alone
  (``tfcompress.distill.defaults.LEARNING_RATE``, per-step cosine decay), images randomly shifted by a
  pixel, the same shifted batch given to teacher and student (``augment: auto``);
* quantize: QAT fine-tuning at a tenth of that rate, still distilled from the teacher.
"""

from tfcompress.distill import defaults as distill_defaults

#: Options of the default stages (the budget is filled in by ``default_stages``).
SEARCH = {"family": "auto", "max_trials": 16, "epochs": 8, "reward": None, "min_fill": 0.6, "final_epochs": 0,
          "learning_rate": distill_defaults.LEARNING_RATE, "max_seconds": 240}
DISTILL = {"epochs": "auto", "learning_rate": distill_defaults.LEARNING_RATE, "batch_size": 32, "augment": "auto",
           "restore_best": True, "max_seconds": 150}
QAT = {"method": "qat", "epochs": 5, "learning_rate": distill_defaults.LEARNING_RATE / 10, "max_seconds": 60}
EXPORT = {"format": "int8"}


def default_stages(budget):
    """Recipe entries of the default pipeline under ``budget`` (dict with ``max_bytes``, ``max_params`` or
    ``max_latency_us``).

    Example:
        >>> [next(iter(s)) for s in default_stages({"max_bytes": 12000})]
        ['search', 'distill', 'quantize', 'export']
    """
    search = dict(SEARCH, budget=dict(budget))
    if SEARCH["reward"] == "mnas" and not (budget.get("max_bytes") or budget.get("max_latency_us")):
        search["reward"] = None  # the MnasNet reward needs a byte or latency target
    if not budget.get("max_bytes"):
        search["min_fill"] = None  # the lower bound is a share of max_bytes
    return [{"search": search}, {"distill": dict(DISTILL)}, {"quantize": dict(QAT)}, {"export": dict(EXPORT)}]


__all__ = ["default_stages", "SEARCH", "DISTILL", "QAT", "EXPORT"]
