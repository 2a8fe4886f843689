"""Fit a candidate's width multiplier to the budget, measuring its int8 file, instead of drawing and rejecting.

A search over fixed widths under a byte budget throws most draws away (on 32x32 images 130 of 146 drawn plain
CNNs were over or far under the budget). Here the oracle draws only the structure; ``fit_width`` then finds
the width at which the measured int8 file lies between ``floor`` (``min_fill x max_bytes``) and ``max_bytes``,
and at which the other bounds (parameters, TFLM arena, latency) hold; ``fit_candidate`` drops blocks from a structure
that breaks the budget even at the narrowest width.

Every step is a measurement: parameters (a build), the int8 file (a conversion, with trained-like weights,
``tfcompress.search.measure``), latency when the budget bounds it. The size grows about with the square of
the width, so the first width comes from the parameter count at width 1, and the next ones from the last two
measurements (a secant in log-log space), inside the bracket of widths known to fit or to break the budget.
About three conversions fit a structure.
"""

import math

from tfcompress._keras import keras
from tfcompress.search.families import WIDTH
from tfcompress.search.measure import arena_bytes, int8_bytes_as_trained, latency_us
from tfcompress.search.spaces import build_with

#: Most conversions spent fitting one candidate.
MAX_CONVERSIONS = 4


class WidthFit:
    """The outcome of ``fit_width``.

    Attributes:
        model: the candidate at the chosen width (None if no width fits the upper bounds).
        width: the chosen width multiplier.
        measured: ``params``, ``int8_bytes`` and ``latency_us`` of the chosen candidate (as far as measured).
        violations: bounds the chosen candidate breaks (empty when it fits).
        conversions: int8 conversions spent; builds: models built.
        filled: whether the file reaches the floor.
        steps: every measured point, ``[(width, measured), ...]``.
    """

    def __init__(self, model, width, measured, violations, conversions, builds, filled, steps):
        self.model, self.width, self.measured, self.violations = model, width, measured, violations
        self.conversions, self.builds, self.filled, self.steps = conversions, builds, filled, steps

    def record(self):
        """JSON-able summary for the trial record."""
        return {"width": self.width, "fit_conversions": self.conversions, "fit_builds": self.builds,
                "fit_filled": self.filled}


def fit_candidate(hypermodel, space, values, budget, representative, min_fill=None, latency=True):
    """``fit_width`` of the drawn structure; while even its narrowest width breaks the budget, one block fewer.

    Returns:
        ``(fit, values, draws)``: the ``WidthFit`` of the last structure tried, its hyperparameter values (with
        ``width``), and how many structures were measured.
    """
    draws = 0
    lo = float(hypermodel.widths_for(values)[0])
    shrink = getattr(hypermodel, "smaller", None)
    while shrink is not None:  # first the narrowest width alone: does the structure fit at all?
        draws += 1
        narrowest = _Search(hypermodel, space, values, budget.ceiling(), representative)
        if not budget.ceiling().violations(narrowest.measure(lo, latency=budget.ceiling().needs_latency)):
            break
        smaller = shrink(values)
        if smaller is None:
            return narrowest.result(lo, None, latency), dict(values, **{WIDTH: lo}), draws
        values = smaller
    fit = fit_width(hypermodel, space, values, budget, representative, min_fill=min_fill, latency=latency)
    return fit, dict(values, **{WIDTH: fit.width}), max(draws, 1)


def fit_width(hypermodel, space, values, budget, representative, min_fill=None, latency=True):
    """Find the widest candidate of structure ``values`` that fits ``budget``, ideally above the floor.

    Args:
        hypermodel: a ``FittedWidthSpace`` with ``fit_width`` set.
        space: the search's ``keras_tuner.HyperParameters``.
        values: the drawn hyperparameter values (the structure).
        budget: a ``Budget`` (its upper bounds are used; ``ceiling()``).
        representative: inputs that calibrate the int8 conversion.
        min_fill: the share of ``max_bytes`` the file should reach; None for no floor. Defaults to None.
        latency: measure the latency of the chosen candidate even if the budget does not bound it.
            Defaults to True.

    Returns:
        A ``WidthFit``. When even the narrowest width breaks a bound, ``model`` is that narrowest candidate
        and ``violations`` says which bound; the caller gives the structure up or makes it smaller.
    """
    ceiling = budget.ceiling()
    lo, hi = (float(w) for w in hypermodel.widths_for(values))
    key, limit = _primary(ceiling)
    floor = min_fill * ceiling.max_bytes if (min_fill and key == "int8_bytes") else None
    target = math.sqrt(floor * limit) if floor else 0.9 * limit
    search = _Search(hypermodel, space, values, ceiling, representative)
    # params ~ width ** 2, and an int8 file holds somewhat more than a byte per weight: a first guess
    width = _clip(math.sqrt(0.5 * target / max(search.params(1.0), 1)), lo, hi)
    good = bad = None  # widest width known to fit, narrowest known to break a bound
    while width is not None and search.conversions < MAX_CONVERSIONS:
        point = search.measure(width, latency=ceiling.needs_latency)
        if not ceiling.violations(point):
            good = width if good is None else max(good, width)
            if floor is None and point[key] >= 0.7 * limit or floor is not None and point[key] >= floor \
                    or width >= hi:
                break
        else:
            bad = width if bad is None else min(bad, width)
            if width <= lo:
                break
        width = _next_width(search.points, key, target, good, bad, lo, hi)
    return search.result(lo if good is None else good, floor, latency)


def _primary(budget):
    """The measurement the width is fitted to, and its limit: bytes, else parameters, else latency."""
    for bound, key in (("max_bytes", "int8_bytes"), ("max_params", "params"), ("max_arena_bytes", "arena_bytes"),
                       ("max_latency_us", "latency_us")):
        if getattr(budget, bound) is not None:
            return key, float(getattr(budget, bound))
    raise ValueError("fit_width needs a budget with max_bytes, max_params, max_arena_bytes or max_latency_us")


def _clip(width, lo, hi):
    return min(hi, max(lo, width))


class _Search:
    """Builds and measures candidates of one structure, remembering every measurement."""

    def __init__(self, hypermodel, space, values, budget, representative):
        self.hypermodel, self.space, self.values = hypermodel, space, dict(values)
        self.budget, self.representative = budget, representative
        self.points = {}  # width -> measured dict (params, int8_bytes, latency_us)
        self.files = {}  # width -> int8 .tflite bytes
        self.builds = self.conversions = 0

    def build(self, width):
        keras.backend.clear_session()
        self.builds += 1
        return build_with(self.hypermodel, self.space, dict(self.values, **{WIDTH: float(width)}))

    def params(self, width):
        point = self.points.setdefault(width, {})
        if "params" not in point:
            point["params"] = int(self.build(width).count_params())
        return point["params"]

    def measure(self, width, latency, model=None):
        """Parameters, int8 bytes, the TFLM arena (when bounded), then latency of the candidate at ``width``,
        stopping at the first broken bound."""
        point = self.points.setdefault(width, {})
        model = model if model is not None else self.build(width)
        point["params"] = int(model.count_params())
        if self.budget.violations(point):
            return point
        if width not in self.files:
            self.conversions += 1
            self.files[width] = int8_bytes_as_trained(model, self.representative)
            point["int8_bytes"] = len(self.files[width])
        if not self.budget.violations(point) and self.budget.needs_arena and "arena_bytes" not in point:
            point["arena_bytes"] = arena_bytes(self.files[width])
        if not self.budget.violations(point) and latency and "latency_us" not in point:
            point["latency_us"] = latency_us(self.files[width])
        return point

    def result(self, width, floor, latency):
        model = self.build(width)
        point = dict(self.measure(width, latency or self.budget.needs_latency, model=model))
        filled = floor is None or point.get("int8_bytes", 0) >= floor
        return WidthFit(model, float(width), point, self.budget.violations(point), self.conversions, self.builds,
                        filled, sorted(self.points.items()))


def _next_width(points, key, target, good, bad, lo, hi):
    """The next width to measure, aimed at ``target`` by the two measurements nearest to it; None when the
    bracket [good, bad] is too narrow to be worth another conversion."""
    lower = good if good is not None else lo
    upper = bad if bad is not None else hi
    measured = sorted((w, p[key]) for w, p in points.items() if p.get(key))
    if upper / lower <= 1.1 or not measured:  # widths within 10% differ by about 20% in size
        return None
    near = sorted(measured, key=lambda m: abs(math.log(m[1] / target)))[:2]
    (w1, v1), guess = near[0], None
    if len(near) == 2 and near[1][1] != v1 and near[1][0] != w1:
        w2, v2 = near[1]
        slope = (math.log(v2) - math.log(v1)) / (math.log(w2) - math.log(w1))
        if slope > 0.2:
            guess = w1 * math.exp((math.log(target) - math.log(v1)) / slope)
    if guess is None:
        guess = w1 * math.sqrt(target / v1)  # the size grows about with the square of the width
    if good is None and guess <= lo:
        return lo if lo not in points or "int8_bytes" not in points[lo] and key == "int8_bytes" else None
    if not lower < guess < upper:
        guess = math.sqrt(lower * upper)
    return guess


__all__ = ["fit_candidate", "fit_width", "WidthFit", "MAX_CONVERSIONS"]
