"""No stage makes the model silently worse: each stage's result is judged on the validation split, as int8.

After a stage, the runner measures the int8 ``.tflite`` file of its model (``pipeline/measure.py``), which
includes its accuracy on the validation split (never the test split). ``StageGuard.judge`` compares it with the
stage's input:

* a stage that does not make the file smaller (distillation, QAT, fine-tuning, or a "compression" whose file did
  not shrink) and scores lower at all: the stage's *input* is kept, and the stage is reported as reverted. It
  bought nothing for the accuracy it cost (a final distillation that lost one validation image was kept before,
  and the run ended below the student the search had found);
* a stage that exists to shrink the model (``Stage.reduces_size``: pruning, clustering, factorization) whose file
  did get smaller: kept when at most ``tolerance`` lower; lower by more, kept too, since smaller is what was asked
  for, with a warning in the log, the report and ``report.json``.

Stages that replace the model by another one (``search``) or only convert it (``export``) are not judged
(``Stage.judged = False``). The tolerance is at least one validation sample, so that a one-image change on a
small split is not mistaken for a loss.
"""

#: Default tolerance: half a point of validation accuracy.
DEFAULT_TOLERANCE = 0.005
#: A file at least this much smaller counts as a size reduction.
SHRINK = 0.05


class StageGuard:
    """Judges each stage's result against its input (see the module docstring).

    Args:
        tolerance: largest drop of int8 validation accuracy accepted without a warning from a stage that made the
            file smaller, as a fraction (0.005 = half a point). Defaults to ``DEFAULT_TOLERANCE``.
        val_samples: size of the validation split (the tolerance is at least one sample). Defaults to None.
    """

    def __init__(self, tolerance=DEFAULT_TOLERANCE, val_samples=None):
        self.tolerance = float(tolerance)
        if val_samples:
            self.tolerance = max(self.tolerance, 1.0 / float(val_samples))

    def judge(self, stage, before, after):
        """The decision on one stage: a JSON-able dict.

        Keys: ``judged``; and when judged ``val_accuracy_before``, ``val_accuracy_after``, ``change``,
        ``tolerance``, ``kept`` (``"output"`` or ``"input"``), ``warning`` (True when kept despite a drop) and
        ``reason`` (a sentence for the log and report, None when nothing happened).
        """
        va, vb = (after or {}).get("val_accuracy"), (before or {}).get("val_accuracy")
        if not getattr(stage, "judged", True) or va is None or vb is None:
            return {"judged": False, "kept": "output", "warning": False, "reason": None}
        change = float(va) - float(vb)
        out = {"judged": True, "val_accuracy_before": float(vb), "val_accuracy_after": float(va),
               "change": change, "tolerance": self.tolerance, "kept": "output", "warning": False, "reason": None}
        shrank = getattr(stage, "reduces_size", False) and _smaller(before, after) is not None
        if change >= (-self.tolerance if shrank else 0.0):
            return out
        drop = f"int8 validation accuracy fell {100 * vb:.2f}% -> {100 * va:.2f}% ({100 * change:+.2f} pt"
        if shrank:
            key = _smaller(before, after)
            what = "file" if key == "tflite_bytes" else "gzipped file"
            out.update(warning=True, reason=f"{drop}, tolerance {100 * self.tolerance:.2f} pt); kept, as the {what} is "
                                            f"smaller ({before[key]:,} -> {after[key]:,} B)")
        else:
            out.update(kept="input", reason=f"{drop}) and the file is no smaller; the stage's input was kept")
        return out


def _smaller(before, after):
    """The size key (``tflite_bytes``, else ``gzip_bytes``) that shrank by ``SHRINK`` or more, or None."""
    for key in ("tflite_bytes", "gzip_bytes"):
        b, a = before.get(key), after.get(key)
        if a is not None and b and a <= (1 - SHRINK) * b:
            return key
    return None


__all__ = ["StageGuard", "DEFAULT_TOLERANCE"]
