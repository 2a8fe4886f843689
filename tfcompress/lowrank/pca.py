"""Data-aware factorization: project layers on the principal directions of their data.

Plain SVD treats every input direction of a kernel as equally likely; real
activations are correlated and live near a low-dimensional subspace.  PCA
measures that subspace on a few batches and factorizes what the data use:

* ``source="outputs"`` (default; Dense and Conv in channel mode): principal
  directions ``Q`` of the pre-activation responses ``z = x W + b``, so
  ``W ≈ (W Q) Q^T`` (Zhang et al. 2015, "Accelerating Very Deep Convolutional
  Networks").  It minimises the error of the layer's own outputs.
* ``source="inputs"`` (Dense only): principal directions ``P`` of the inputs, so
  ``W ≈ P (P^T W)``.

In both cases the mean is kept exactly through the second layer's bias, and the
relative error of the centred responses (or inputs) on the measured data is
the square root of the share of variance dropped.
"""

import numpy as np

from tfcompress.errors import ConfigError
from tfcompress.lowrank import graph
from tfcompress.lowrank.candidates import pca_candidate
from tfcompress.lowrank.factorize import apply_ranks, check_conv_mode, choose_layers
from tfcompress.lowrank.ranks import check_rule

SOURCES = ("outputs", "inputs")


class _Moments:
    """Running count, sum and sum of outer products of rows, in float64."""

    def __init__(self, dim):
        self.count, self.total, self.outer = 0, np.zeros(dim), np.zeros((dim, dim))

    def add(self, rows):
        rows = np.asarray(rows, dtype=np.float64)
        self.count += len(rows)
        self.total += rows.sum(axis=0)
        self.outer += rows.T @ rows

    def pca(self):
        mean = self.total / self.count
        cov = self.outer / self.count - np.outer(mean, mean)
        variances, directions = np.linalg.eigh((cov + cov.T) / 2.0)
        order = np.argsort(variances)[::-1]
        return mean, np.clip(variances[order], 0.0, None), directions[:, order]


def factorize_pca(model, data, energy=None, rank=None, target=None, source="outputs", conv_mode="channel",
                  layers=None, only_if_smaller=True, num_batches=None, batch_size=64):
    """Replace Dense (and Conv) layers by two thinner layers from the principal directions of their data.

    Args:
        model: a functional (or built Sequential) tf_keras model.
        data: input array, or an iterable of batches (arrays or ``(x, y)`` pairs, e.g.
            ``trainer.batches("train", limit=8)``).
        energy: keep this share of every layer's variance, in (0, 1].
        rank: an int rank for every layer, or a dict ``layer name -> rank``.
        target: a parameter budget: int count, or float share in (0, 1) of the current count.
            Give at most one of energy, rank and target; none means ``energy=0.9``.
        source: "outputs" (pre-activation responses) or "inputs" (Dense only). Defaults to "outputs".
        conv_mode: "channel" or "none". Defaults to "channel".
        layers: names of the layers to consider; None for every supported layer. Defaults to None.
        only_if_smaller: leave layers alone when factors would not be smaller. Defaults to True.
        num_batches: at most this many batches of ``data`` are used; None for all. Defaults to None.
        batch_size: batch size when ``data`` is an array. Defaults to 64.

    Returns:
        ``(new_model, report)``; the original model is not changed.

    Raises:
        ConfigError: bad options. ModelError: no functional graph, or no data.
        BudgetError: ``target`` cannot be met.
    """
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {list(SOURCES)}; received {source!r}.")
    check_conv_mode(conv_mode, ("channel", "none"))
    check_rule(energy, rank, target)
    chosen, skipped = choose_layers(model, layers, conv_mode)
    if source == "inputs":
        for layer, mode in list(chosen):
            if mode != "dense":
                chosen.remove((layer, mode))
                skipped[layer.name] = "PCA of inputs supports Dense layers only; use source='outputs' for convs"
    stats = layer_statistics(model, [layer for layer, _ in chosen], data, source, num_batches, batch_size)
    candidates = [pca_candidate(layer, mode, source, *stats[layer.name][:3]) for layer, mode in chosen]
    model_report = apply_ranks(model, candidates, skipped, dict(energy=energy, rank=rank, target=target),
                               only_if_smaller, method="pca")
    model_report[1].update(source=source, samples={k: int(v[3]) for k, v in stats.items()})
    return model_report


def layer_statistics(model, layers, data, source, num_batches=None, batch_size=64):
    """Mean, variances, directions and sample count of each layer's inputs or pre-activation outputs.

    Returns:
        dict ``name -> (mean, variances, directions, count)``.
    """
    if not layers:
        return {}
    tensors, owners = [], []
    for node in graph.graph_nodes(model):
        if any(node.layer is layer for layer in layers):
            tensors.append(node.keras_inputs[0])
            owners.append(node.layer)
    moments = {layer.name: None for layer in layers}
    linear = {}
    for values in graph.probe(model, tensors, _batches(data, num_batches, batch_size)):
        for layer, x in zip(owners, values):
            if source == "outputs":
                if layer.name not in linear:
                    linear[layer.name] = _linear_copy(layer, x)
                rows = np.asarray(linear[layer.name](x))
                if getattr(layer, "data_format", "channels_last") == "channels_first" and rows.ndim > 2:
                    rows = np.moveaxis(rows, 1, -1)
            else:
                rows = x
            rows = rows.reshape(-1, rows.shape[-1])
            if moments[layer.name] is None:
                moments[layer.name] = _Moments(rows.shape[-1])
            moments[layer.name].add(rows)
    return {name: m.pca() + (m.count,) for name, m in moments.items()}


def _linear_copy(layer, sample):
    copy = type(layer).from_config(dict(layer.get_config(), activation="linear", activity_regularizer=None))
    copy(sample)
    copy.set_weights(layer.get_weights())
    return copy


def _batches(data, num_batches, batch_size):
    if hasattr(data, "shape"):
        array = data
        data = (array[i:i + batch_size] for i in range(0, len(array), batch_size))
    for n, batch in enumerate(data):
        if num_batches is not None and n >= num_batches:
            return
        yield batch


__all__ = ["factorize_pca", "layer_statistics", "SOURCES"]
