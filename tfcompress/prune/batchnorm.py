"""Re-estimate BatchNorm moving statistics after pruning ("adaptive BN", EagleEye, ECCV'20).

Pruning changes what every BatchNorm downstream sees, so its moving mean and variance no longer fit. A
fine-tune refreshes them only slowly: keras.applications models use BN momentum 0.999, so a few hundred steps
leave the statistics close to the stale ones (a pruned MobileNetV2 fell to 10% accuracy that way).
``recalibrate_batch_norm`` instead runs a few training batches through the model in training mode (each BN
normalises with its batch's statistics, as in training) without updating any weight, and sets every BN's
moving mean and variance to the cumulative average of the batch statistics it saw: the mean of the batch means,
and the mean of the batch variances (unbiased, ``n / (n - 1)``, as Keras' fused kernel and PyTorch record
them). That is PyTorch's ``momentum=None`` mode, applied once.
"""

import numpy as np

from tfcompress._compat import graph_nodes, is_graph_network
from tfcompress._keras import keras, tf
from tfcompress.errors import DataError, ModelError

#: Defaults of ``recalibrate_batch_norm``: batches, and samples per batch.
BATCHES = 8
BATCH_SIZE = 64


def recalibrate_batch_norm(model, x, batches=BATCHES, batch_size=BATCH_SIZE, seed=0):
    """Set every BatchNorm's moving mean/variance to the average statistics of a few training batches.

    Args:
        model: a built functional or Sequential ``tf_keras`` model without nested sub-models (flatten first:
            ``tfcompress.quantize.flatten.flatten_model``); changed in place.
        x: training inputs (a NumPy array, sampled in a seeded random order so that sorted data still give
            mixed batches), or an iterable of batches (arrays or ``(x, y)`` tuples, used in order).
        batches: how many batches to run. Defaults to 8.
        batch_size: samples per batch when ``x`` is an array. Defaults to 64.
        seed: seed of the sample order. Defaults to 0.

    Returns:
        ``model`` (recalibrated in place; weights other than the BN moving statistics are unchanged).

    Raises:
        ModelError: the model has no functional graph or holds a nested model. DataError: no batch.
    """
    BatchNormCalibrator(model)(calibration_batches(x, batches, batch_size, seed))
    return model


def calibration_batches(x, batches=BATCHES, batch_size=BATCH_SIZE, seed=0):
    """A list of at most ``batches`` input batches (see ``recalibrate_batch_norm`` for ``x``)."""
    if isinstance(x, np.ndarray):
        order = np.random.default_rng(seed).permutation(len(x))[:batches * batch_size]
        return [x[np.sort(order[start:start + batch_size])] for start in range(0, len(order), batch_size)]
    found = []
    for batch in x:
        if len(found) >= batches:
            break
        found.append(batch[0] if isinstance(batch, tuple) else batch)
    return found


class BatchNormCalibrator:
    """Recalibrates the BatchNorms of one model, tracing its training-mode pass once for many calls.

    Args:
        model: as for ``recalibrate_batch_norm``.

    Raises:
        ModelError: the model has no functional graph or holds a nested model.
    """

    def __init__(self, model):
        if not isinstance(model, keras.Model) or not is_graph_network(model):
            raise ModelError(f"recalibrate_batch_norm needs a functional or Sequential tf_keras model; received "
                             f"{type(model).__name__}. Fix: build the model from keras.Input.")
        nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
        if nested:
            raise ModelError(f"model {model.name!r} holds the nested model {nested[0]!r}; its BatchNorms are not "
                             "reachable from the outer graph. Fix: flatten it first (tfcompress.quantize.flatten."
                             "flatten_model).")
        self.calls = [(node.layer, node.keras_inputs[0]) for node in graph_nodes(model)
                      if isinstance(node.layer, keras.layers.BatchNormalization)]
        self.layers = list(dict.fromkeys(layer for layer, _ in self.calls))
        self._moments = None
        if self.calls:
            probe = keras.Model(model.inputs, [tensor for _, tensor in self.calls])
            axes = [_reduce_axes(layer, tensor) for layer, tensor in self.calls]

            @tf.function
            def moments(xb):
                values = probe(xb, training=True)
                values = values if isinstance(values, (list, tuple)) else [values]
                found = []
                for value, reduce in zip(values, axes):
                    mean, var = tf.nn.moments(tf.cast(value, tf.float32), axes=reduce)
                    n = tf.cast(tf.size(value), tf.float32) / tf.cast(tf.size(mean), tf.float32)
                    found.append((mean, var * n / tf.maximum(n - 1.0, 1.0)))
                return found

            self._moments = moments

    def __call__(self, batches):
        """Recalibrate from a list of input batches; returns the number of BatchNorm layers set.

        Raises:
            DataError: no batch.
        """
        if not self.calls:
            return 0
        saved = {id(layer): (layer.trainable, layer.moving_mean.numpy(), layer.moving_variance.numpy())
                 for layer in self.layers}
        sums, seen = [[0.0, 0.0] for _ in self.calls], 0
        try:
            for layer in self.layers:
                layer.trainable = True  # a frozen BN would normalise with its stale statistics in training mode
            for xb in batches:
                for total, (mean, var) in zip(sums, self._moments(tf.convert_to_tensor(xb))):
                    total[0] = total[0] + mean.numpy().astype("float64")
                    total[1] = total[1] + var.numpy().astype("float64")
                seen += 1
        finally:
            for layer in self.layers:  # undo the side effects of the training-mode calls
                trainable, mean, var = saved[id(layer)]
                layer.trainable = trainable
                layer.moving_mean.assign(mean)
                layer.moving_variance.assign(var)
        if seen == 0:
            raise DataError("recalibrate_batch_norm received no input batch; pass training inputs (a few hundred "
                            "samples).")
        per_layer = {}
        for (layer, _), (mean, var) in zip(self.calls, sums):  # a shared BN averages over all its calls
            per_layer.setdefault(id(layer), (layer, []))[1].append((mean / seen, var / seen))
        for layer, stats in per_layer.values():
            dtype = layer.moving_mean.dtype.as_numpy_dtype
            layer.moving_mean.assign(np.mean([m for m, _ in stats], axis=0).astype(dtype))
            layer.moving_variance.assign(np.mean([v for _, v in stats], axis=0).astype(dtype))
        return len(per_layer)


def _reduce_axes(layer, tensor):
    rank = len(tensor.shape)
    kept = {a % rank for a in (layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis])}
    return [a for a in range(rank) if a not in kept]


__all__ = ["recalibrate_batch_norm", "calibration_batches", "BatchNormCalibrator", "BATCHES", "BATCH_SIZE"]
