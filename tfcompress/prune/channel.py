"""Channel (filter) pruning that rebuilds a physically smaller dense model, across skip connections.

Zeroed weights only shrink a model once a sparse format or compressor sees them; removing whole filters and
units shrinks every tensor, so the converted file is smaller and inference does less work. The work is split
in three roles, as in Torch-Pruning (DepGraph, CVPR'23):

* ``ChannelGraph`` (``graph.py``) finds the *groups*: channels tied by Add/Multiply, followed by BatchNorm and
  depthwise convolutions, concatenated or flattened, and which groups are fixed (input, output, excluded);
* an importance criterion (``importance.py``: ``l1``, ``l2``, ``bn_gamma``, ``taylor``) scores every channel;
* the pruner (this module) only picks how many channels each group keeps (``scope="layer"``: the same share
  of every group; ``"global"``: one ranking over all groups) and which ones, as a ``PruningPlan``, then
  ``rebuild`` makes the new model with sliced weights.

Example:
    >>> from tfcompress import keras
    >>> x = keras.Input((8, 8, 3))
    >>> a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="a")(x)
    >>> b = keras.layers.Conv2D(8, 3, padding="same", name="b")(a)
    >>> y = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b])))
    >>> small = prune_channels(keras.Model(x, y), keep_ratio=0.5)
    >>> channel_counts(small)
    {'a': 4, 'b': 4, 'head': 2}
"""

import math

import numpy as np

from tfcompress._keras import keras
from tfcompress.errors import ConfigError
from tfcompress.prune.graph import ChannelGraph
from tfcompress.prune.importance import get_importance
from tfcompress.prune.plan import PruningPlan
from tfcompress.prune.rebuild import rebuild
from tfcompress.prune.select import CLASSIFIER, FIRST_CONV

SCOPES = ("layer", "global")
#: In global scope no group keeps fewer than this share of its channels (nor fewer than ``min_channels``).
GLOBAL_FLOOR = 0.1
#: Training batches the data-driven criteria (taylor) read.
DATA_BATCHES = 4
_RATIO = "a number in (0, 1] (the share of channels kept)"
_COUNTED = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense,
            keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv1D,
            keras.layers.SeparableConv2D)


def plan_channels(model, keep_ratio=0.5, criterion="l1", scope="layer", layer_ratios=None, exclude=(),
                  min_channels=1, divisor=1, data=None, graph=None):
    """Choose the channels each group keeps.

    Args:
        model: a built functional or Sequential ``tf_keras`` model.
        keep_ratio: share of each prunable group's channels kept (``"layer"`` scope), or of all their channels
            together (``"global"``), in (0, 1]. Defaults to 0.5.
        criterion: an importance name (``"l1"``, ``"l2"``, ``"bn_gamma"``, ``"taylor"``) or an ``Importance``
            instance. Defaults to "l1".
        scope: ``"layer"`` keeps ``keep_ratio`` of every group; ``"global"`` ranks the channels of all groups
            together (each group's scores divided by their mean) and keeps the top ``keep_ratio`` of them, no
            group falling below ``GLOBAL_FLOOR`` of its channels or ``min_channels``. Defaults to "layer".
        layer_ratios: dict layer name -> keep ratio for the group of that layer (any member: a conv, its
            BatchNorm, a depthwise conv after it), overriding ``keep_ratio`` in either scope. Defaults to None.
        exclude: layer names (or ``"first_conv"``) whose groups keep all their channels; the input and every
            group that reaches a model output (the classifier) are always kept. Defaults to ().
        min_channels: fewest channels a group keeps. Defaults to 1.
        divisor: kept counts are rounded up to a multiple of this (4 or 8 suit SIMD kernels). Defaults to 1.
        data: ``(x, y)`` arrays or a list of ``(x, y)`` batches, for criteria that need data. Defaults to None.
        graph: the model's ``ChannelGraph`` if already built (``exclude`` is then ignored). Defaults to None.

    Returns:
        A ``PruningPlan``.

    Raises:
        ModelError: a layer the graph cannot follow (raised first, before anything else is done).
        ConfigError: bad ratio, criterion, scope, count or layer name. DataError: ``taylor`` without data.
    """
    graph = graph if graph is not None else ChannelGraph(model, exclude_layers(model, exclude))
    check_ratio(keep_ratio, "keep_ratio")
    importance = get_importance(criterion)
    if scope not in SCOPES:
        raise ConfigError(f"scope must be one of {', '.join(map(repr, SCOPES))}; received {scope!r}.")
    for value, what in ((min_channels, "min_channels"), (divisor, "divisor")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{what} must be an integer >= 1; received {value!r}.")
    own = _group_ratios(graph, layer_ratios)
    groups = graph.prunable()
    if not groups:
        return PruningPlan.full(graph)
    scores = importance.scores(graph, groups, batches(data) if importance.needs_data else None)
    counts = {g.name: kept_count(g.size, own.get(g.name, keep_ratio), min_channels, divisor) for g in groups}
    pooled = [g for g in groups if g.name not in own]
    if scope == "global" and pooled:
        counts.update(_global_counts(pooled, scores, keep_ratio, min_channels, divisor))
    keep = {g.name: top(scores[g.name], counts[g.name]) for g in groups if counts[g.name] < g.size}
    return PruningPlan(keep, {g.name: g.size for g in graph.groups.values()})


def prune_channels(model, keep_ratio=0.5, criterion="l1", scope="layer", layer_ratios=None, exclude=(),
                   min_channels=1, divisor=1, data=None):
    """A new, physically smaller model that keeps the most important channels of every prunable group.

    Args:
        model: a built functional or Sequential ``tf_keras`` model (left unchanged), e.g. a
            ``keras.applications`` MobileNetV2 or ResNet; nested functional sub-models are inlined.
        keep_ratio: share of channels kept, in (0, 1] — or a ``PruningPlan`` (then the other selection
            arguments must keep their defaults). Defaults to 0.5.
        criterion, scope, layer_ratios, exclude, min_channels, divisor, data: see ``plan_channels``.

    Returns:
        A new ``tf_keras`` functional model with the same inputs, output shapes and name.

    Raises:
        ModelError: a layer the graph cannot follow (raised before any other work). ConfigError: bad
            arguments, or a plan made for another model.
    """
    graph = ChannelGraph(model, exclude_layers(model, exclude))
    if isinstance(keep_ratio, PruningPlan):
        given = {"criterion": (criterion, "l1"), "scope": (scope, "layer"), "layer_ratios": (layer_ratios, None),
                 "min_channels": (min_channels, 1), "divisor": (divisor, 1), "data": (data, None)}
        extra = [name for name, (value, default) in given.items() if value is not default and value != default]
        if extra:
            raise ConfigError(f"prune_channels received a PruningPlan and also {', '.join(extra)}; a plan already "
                              "says which channels to keep. Fix: pass only the plan (or make a new plan with "
                              "plan_channels).")
        return rebuild(graph, keep_ratio)
    plan = plan_channels(model, keep_ratio, criterion, scope, layer_ratios, exclude, min_channels, divisor, data,
                         graph=graph)
    return rebuild(graph, plan)


def channel_counts(model):
    """dict layer name -> output channels of every Conv/Dense/DepthwiseConv/SeparableConv layer of ``model``."""
    return {layer.name: int(layer.get_output_shape_at(0)[-1]) for layer in model.layers
            if type(layer) in _COUNTED}


def group_counts(model):
    """dict group name -> channels, for every group of ``model`` (see ``ChannelGraph``)."""
    return {name: group.size for name, group in ChannelGraph(model).groups.items()}


def kept_count(size, ratio, min_channels=1, divisor=1):
    """Channels a group of ``size`` keeps at ``ratio``: ``ceil(ratio * size)`` rounded up to ``divisor``,
    at least ``min_channels`` and at most ``size``."""
    count = int(math.ceil(ratio * size - 1e-9))
    count = int(math.ceil(count / divisor) * divisor)
    return int(min(size, max(min_channels, count, 1)))


def top(scores, count):
    """Sorted indices of the ``count`` highest scores (ties broken by position)."""
    return np.sort(np.argsort(-np.asarray(scores), kind="stable")[:count])


def batches(data, batch_size=32, limit=DATA_BATCHES):
    """A list of at most ``limit`` ``(x, y)`` batches from ``(x, y)`` arrays or an iterable of batches."""
    if data is None:
        return None
    if isinstance(data, tuple) and len(data) == 2 and hasattr(data[0], "shape") and hasattr(data[1], "shape"):
        x, y = data
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)][:limit]
    return [tuple(b) for _, b in zip(range(limit), data)]


def _global_counts(groups, scores, keep_ratio, min_channels, divisor):
    """Counts from one ranking of every channel of ``groups`` (scores divided by each group's mean)."""
    flat, owner = [], []
    for i, group in enumerate(groups):
        s = scores[group.name]
        mean = float(np.mean(s))
        flat.append(s / mean if mean > 0 else np.zeros_like(s))
        owner.append(np.full(group.size, i))
    flat, owner = np.concatenate(flat), np.concatenate(owner)
    total = int(round(keep_ratio * flat.size))
    chosen = np.bincount(owner[np.argsort(-flat, kind="stable")[:total]], minlength=len(groups))
    counts = {}
    for group, n in zip(groups, chosen):
        floor = max(min_channels, int(math.ceil(GLOBAL_FLOOR * group.size - 1e-9)))
        counts[group.name] = kept_count(group.size, max(int(n), floor) / group.size, min_channels, divisor)
    return counts


def _group_ratios(graph, layer_ratios):
    """dict group name -> ratio from ``layer_ratios`` (layer name -> ratio)."""
    if layer_ratios is None:
        return {}
    if not isinstance(layer_ratios, dict):
        raise ConfigError(f"layer_ratios must be a mapping layer name -> keep ratio; received {layer_ratios!r}.")
    own, by = {}, {}
    for name, ratio in layer_ratios.items():
        check_ratio(ratio, f"layer_ratios[{name!r}]")
        group = graph.group_by_member(name, "layer_ratios")
        if graph.groups[group].fixed:
            raise ConfigError(f"layer_ratios[{name!r}]: the channels of {name!r} (group {group!r}) cannot be "
                              f"pruned: {graph.groups[group].fixed}.")
        if group in own and own[group] != ratio:
            raise ConfigError(f"layer_ratios gives {by[group]!r} {own[group]} and {name!r} {ratio}, but both "
                              f"name group {group!r} (their channels are pruned together). Fix: give one ratio.")
        own[group], by[group] = ratio, name
    return own


def exclude_layers(model, exclude):
    """Layer names from ``exclude`` (names, or the keyword ``"first_conv"``; ``"classifier"`` is always kept)."""
    names = [exclude] if isinstance(exclude, str) else list(exclude or ())
    if FIRST_CONV in names:
        names.remove(FIRST_CONV)
        convs = [layer.name for layer in model.layers if type(layer) in _COUNTED[:3] + _COUNTED[6:]]
        names += convs[:1]
    return [n for n in names if n != CLASSIFIER]  # the classifier reaches the output: always kept


def check_ratio(value, what):
    """Raise ConfigError unless ``value`` is a keep ratio in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ConfigError(f"{what} must be {_RATIO}; received {value!r}. Example: 0.5 keeps half the channels.")


__all__ = ["SCOPES", "GLOBAL_FLOOR", "plan_channels", "prune_channels", "channel_counts", "group_counts",
           "kept_count", "top", "batches", "check_ratio", "exclude_layers"]
