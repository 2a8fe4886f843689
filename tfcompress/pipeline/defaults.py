"""The default stages of a recipe that gives a ``budget:`` and no ``stages:``.

``search → distill → qat → int8 export``, each stage trained with the teacher. The values were chosen with
``benchmarks/anchors.py`` (digits; results in ``benchmarks/results/anchors.md``): against TFMOT alone on the
teacher, the keras.io distillation recipe and training from scratch at the same size.

* search: 16 trials of 8 epochs each at the small-student rate, ranked by the int8 file's validation accuracy;
  candidates whose int8 file would use less than 60% of ``max_bytes`` are skipped untrained (``min_fill``;
  without it most trained trials were far below the budget). ``benchmarks/search_quality.py`` showed the
  trial score tracking the fully distilled accuracy (Spearman +0.73 over 16 candidates) while the file size
  did not (-0.35: deep separable students fill bytes with operators, not weights), so the trials are ranked
  on accuracy alone. Images larger than 16 px search MobileNet and ResNet students whose width is fitted to
  the budget (``tfcompress.search.families``);
* distill: a final distillation of about 4,000 steps (``epochs: auto``; 120 epochs on the 1,000 training
  digits) at the rate that is best for small students trained alone (``tfcompress.distill.defaults.
  LEARNING_RATE``, per-step cosine decay), images randomly shifted by a pixel, the same shifted batch given to
  teacher and student (``augment: auto``), ending with the weights of the best validation epoch; a student that
  already matches the teacher learns from the labels (``alpha_when_ahead``);
* quantize: QAT fine-tuning at a tenth of that rate, still distilled from the teacher.

Each stage has a time limit (``max_seconds``: 210 s of search, 120 s of distillation, 45 s of QAT), so that a
run on a few thousand 32 px images ends in under ten minutes on a 2-core machine; on the 8x8 digits none of
them binds. Fewer epochs are then planned, and the learning-rate schedule still completes. Every stage is
judged on the int8 validation accuracy and reverted when it loses (``tfcompress.pipeline.guard``).
"""

from tfcompress.distill import defaults as distill_defaults

#: Options of the default stages (the budget is filled in by ``default_stages``).
SEARCH = {"family": "auto", "max_trials": 16, "epochs": 8, "reward": None, "min_fill": 0.6, "final_epochs": 0,
          "learning_rate": distill_defaults.LEARNING_RATE, "max_seconds": 210}
DISTILL = {"epochs": "auto", "learning_rate": distill_defaults.LEARNING_RATE, "batch_size": 32, "augment": "auto",
           "restore_best": True, "max_seconds": 120}
QAT = {"method": "qat", "epochs": 5, "learning_rate": distill_defaults.LEARNING_RATE / 10, "max_seconds": 45}
EXPORT = {"format": "int8"}


def default_stages(budget):
    """Recipe entries of the default pipeline under ``budget`` (dict with ``max_bytes``, ``max_params``,
    ``max_arena_bytes`` or ``max_latency_us``). With ``max_arena_bytes`` the export runs the file in TensorFlow
    Lite Micro (``tflm: true``), so that the report checks the measured arena.

    Example:
        >>> [next(iter(s)) for s in default_stages({"max_bytes": 12000})]
        ['search', 'distill', 'quantize', 'export']
    """
    search = dict(SEARCH, budget=dict(budget))
    if SEARCH["reward"] == "mnas" and not (budget.get("max_bytes") or budget.get("max_latency_us")):
        search["reward"] = None  # the MnasNet reward needs a byte or latency target
    if not budget.get("max_bytes"):
        search["min_fill"] = None  # the lower bound is a share of max_bytes
    export = dict(EXPORT, tflm=True) if budget.get("max_arena_bytes") else dict(EXPORT)  # the arena is measured
    return [{"search": search}, {"distill": dict(DISTILL)}, {"quantize": dict(QAT)}, {"export": export}]


__all__ = ["default_stages", "SEARCH", "DISTILL", "QAT", "EXPORT"]
