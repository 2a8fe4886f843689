"""How important each channel of a group is: small pluggable criteria with a registry.

A criterion scores every channel of the groups it is given; the pruner keeps the highest scores. Every member
layer of a group contributes one score vector, divided by its own mean so that no layer dominates by its size
(a 3x3x512 filter has a far larger norm than a 1x1x16 one), and the vectors are summed:

* ``"l1"`` / ``"l2"``: the L1 / L2 norm of each member producer's output filter (Li et al., ICLR'17);
* ``"bn_gamma"``: |gamma| of the BatchNorms along the group (network slimming, Liu et al., ICCV'17); a group
  without BatchNorm is scored by L1;
* ``"taylor"``: first-order Taylor ``sum |w * dL/dw|`` over each member producer's output filter, accumulated
  over a few training batches (Molchanov et al., CVPR'19); needs ``data``.

Add a criterion with ``@register_importance`` on a subclass of ``Importance``.
"""

import numpy as np

from tfcompress.errors import ConfigError, DataError

_REGISTRY = {}


def register_importance(cls):
    """Class decorator: make an ``Importance`` subclass available by its ``name``."""
    if not cls.name:
        raise ConfigError(f"{cls.__name__} has no criterion name")
    _REGISTRY[cls.name] = cls
    return cls


def importance_names():
    """Names of the registered criteria, sorted."""
    return tuple(sorted(_REGISTRY))


def get_importance(criterion):
    """An ``Importance`` instance for a name (or the instance itself).

    Raises:
        ConfigError: unknown name; the message lists the valid ones.
    """
    if isinstance(criterion, Importance):
        return criterion
    if not isinstance(criterion, str) or criterion not in _REGISTRY:
        raise ConfigError(f"criterion must be one of {', '.join(map(repr, importance_names()))}; received "
                          f"{criterion!r}.")
    return _REGISTRY[criterion]()


class Importance:
    """Base class: ``scores(graph, groups, data)`` -> dict group name -> one score per channel."""

    name = None
    #: whether ``scores`` needs ``(x, y)`` training batches
    needs_data = False

    def scores(self, graph, groups, data=None):
        """Score each channel of ``groups`` (``Group`` objects of ``graph``).

        Args:
            graph: the ``ChannelGraph`` of the model.
            groups: the groups to score.
            data: a list of ``(x, y)`` batches, for criteria that need data. Defaults to None.

        Returns:
            dict group name -> float64 array of ``group.size`` scores (larger is more important).
        """
        return {g.name: _sum(self.layer_scores(graph, g, data), g.size) for g in groups}

    def layer_scores(self, graph, group, data):
        """One score vector per member layer of ``group`` (before normalisation)."""
        raise NotImplementedError


class _Norm(Importance):
    order = 1

    def layer_scores(self, graph, group, data=None):
        return [_filter_norm(kernel, axis, self.order) for kernel, axis in _kernels(graph, group)]


@register_importance
class L1Importance(_Norm):
    """L1 norm of each output filter of the group's producers."""

    name = "l1"
    order = 1


@register_importance
class L2Importance(_Norm):
    """L2 norm of each output filter of the group's producers."""

    name = "l2"
    order = 2


@register_importance
class BNGammaImportance(Importance):
    """|gamma| of the BatchNorms along the group (L1 of the filters when there is none)."""

    name = "bn_gamma"

    def layer_scores(self, graph, group, data=None):
        found = []
        for record in _first_records(graph, group.followers):
            if not any(spec.name == "gamma" for spec in record.rule.weights):
                continue
            gamma = np.abs(record.layer.gamma.numpy()).astype("float64")
            offset = 0
            for name, mult in record.in_layouts[0]:
                size = graph.groups[name].size
                if name == group.name:
                    found.append(gamma[offset:offset + size * mult].reshape(size, mult).sum(axis=1))
                offset += size * mult
        return found or L1Importance().layer_scores(graph, group)


@register_importance
class TaylorImportance(Importance):
    """First-order Taylor ``|w * dL/dw|`` of the producers' filters over a few training batches."""

    name = "taylor"
    needs_data = True

    def scores(self, graph, groups, data=None):
        from tfcompress.prune.gradient import gradient_importance

        if not data:
            raise DataError("criterion 'taylor' needs training batches: pass data=(x, y) (a few hundred labelled "
                            "samples) or a list of (x, y) batches.")
        producers = sorted({name for g in groups for name in g.producers})
        model = graph.model
        loss = _loss(model, data[0][1])
        saliency = gradient_importance(model, data, "taylor", layers=producers, loss=loss)
        found = {}
        for group in groups:
            vectors = []
            for record in _first_records(graph, group.producers):
                name = "pointwise_kernel" if record.rule.separable else "kernel"
                spec = next(s for s in record.rule.weights if s.name == name)
                axis = dict((role, a) for a, role in spec.axes)["out"]
                vectors.append(_filter_norm(saliency[f"{record.layer.name}/{name}"], axis, 1))
            found[group.name] = _sum(vectors, group.size)
        return found


def _kernels(graph, group):
    """(kernel array, output axis) of each producer of the group."""
    found = []
    for record in _first_records(graph, group.producers):
        for spec, value in zip(record.rule.weights, record.layer.get_weights()):
            if spec.name in ("kernel", "pointwise_kernel"):
                found.append((value, dict((role, a) for a, role in spec.axes)["out"]))
    return found


def _first_records(graph, names):
    wanted, seen = set(names), set()
    for record in graph.records:
        if record.layer.name in wanted and record.layer.name not in seen:
            seen.add(record.layer.name)
            yield record


def _filter_norm(kernel, out_axis, order):
    flat = np.moveaxis(np.asarray(kernel, dtype="float64"), out_axis, -1).reshape(-1, kernel.shape[out_axis])
    return np.abs(flat).sum(axis=0) if order == 1 else np.sqrt((flat ** 2).sum(axis=0))


def _sum(vectors, size):
    """Sum of per-layer score vectors, each divided by its mean (all-zero vectors stay zero)."""
    total = np.zeros(size, dtype="float64")
    for v in vectors:
        mean = float(np.mean(v))
        total += v / mean if mean > 0 else 0.0
    return total


def _loss(model, y):
    from tfcompress.train import classification_loss

    last = model.layers[-1]
    activation = str(last.get_config().get("activation", ""))
    softmax = activation == "softmax" or type(last).__name__ == "Softmax"
    return classification_loss(y, from_logits=not softmax)


__all__ = ["Importance", "L1Importance", "L2Importance", "BNGammaImportance", "TaylorImportance",
           "register_importance", "get_importance", "importance_names"]
