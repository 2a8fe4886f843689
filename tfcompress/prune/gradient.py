"""Gradient-based pruning: first-order Taylor or movement importance, masks kept during fine-tuning.

TFMOT prunes by magnitude only.  Here a weight's importance comes from the
loss gradient, accumulated over a few batches:

* ``"taylor"``: ``sum_b |w * dL/dw|``, the first-order estimate of how much the
  loss changes when the weight is removed (Molchanov et al., 2017/2019);
* ``"movement"``: ``-sum_b w * dL/dw``, large when gradient descent is moving the
  weight away from zero (Sanh et al., 2020, one-shot form).

The lowest-scoring weights are zeroed, per layer or over all pruned layers at
once (``scope="global"``), and ``MaskEnforcer`` zeroes them again after every
training batch, so they stay zero while the network is fine-tuned.
"""

import numpy as np

from tfcompress._keras import keras, tf
from tfcompress.errors import ConfigError, DataError
from tfcompress.prune import select
from tfcompress.train import classification_loss

CRITERIA = ("taylor", "movement")
SCOPES = ("global", "layer")


def gradient_importance(model, batches, criterion="taylor", layers=None, loss=None):
    """Accumulated gradient importance of every kernel weight of the chosen layers.

    Args:
        model: a built ``tf_keras`` model that outputs logits.
        batches: iterable of ``(x, y)`` NumPy batches, e.g. ``trainer.batches("train", limit=8)``.
        criterion: ``"taylor"`` or ``"movement"``. Defaults to "taylor".
        layers: names of the layers to score; None for every weight layer. Defaults to None.
        loss: a Keras loss on ``(y, logits)``; None for cross-entropy fitting the labels. Defaults to None.

    Returns:
        dict ``"layer/attr"`` key (e.g. ``"dense/kernel"``) -> NumPy array shaped like the kernel.

    Raises:
        ConfigError: unknown criterion. DataError: no batches were given.
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"criterion must be one of {', '.join(CRITERIA)}; received {criterion!r}.")
    variables = kernel_map(model, layers)
    keys, tensors = list(variables), list(variables.values())
    scores = [np.zeros(v.shape, dtype="float64") for v in tensors]
    count = 0
    for x, y in batches:
        if loss is None:
            loss = classification_loss(y, from_logits=True)
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=False))
        grads = tape.gradient(value, tensors)
        for score, var, grad in zip(scores, tensors, grads):
            if grad is None:
                continue
            product = var.numpy() * tf.convert_to_tensor(grad).numpy()  # IndexedSlices (embeddings) too
            score += np.abs(product) if criterion == "taylor" else -product
        count += 1
    if count == 0:
        raise DataError("gradient importance needs at least one (x, y) batch; received none. Check the data split.")
    return dict(zip(keys, scores))


def kernel_map(model, layers=None):
    """dict ``"layer/attr"`` -> kernel variable for the named layers (None: every weight layer)."""
    wanted = None if layers is None else set(layers)
    found = {}
    for layer in select.weight_layers(model):
        if wanted is not None and layer.name not in wanted:
            continue
        for var in select.kernel_variables(layer):
            attr = next(a for a in select.KERNEL_ATTRS if getattr(layer, a, None) is var)
            found[f"{layer.name}/{attr}"] = var
    return found


def masks_from_scores(scores, sparsity, scope="global", key_sparsity=None):
    """Binary masks zeroing the lowest-scoring weights.

    Args:
        scores: dict key -> importance array (see ``gradient_importance``).
        sparsity: share of weights to zero, in [0, 1).
        scope: ``"global"`` (one ranking over all arrays) or ``"layer"`` (each array on its own).
            Defaults to "global".
        key_sparsity: dict key -> sparsity for arrays ranked on their own at their own target,
            whatever the scope. Defaults to None.

    Returns:
        dict key -> float32 mask array (1 keeps, 0 prunes). Exactly ``round(sparsity * size)``
        weights are zeroed per ranking (ties are broken by position).
    """
    select.check_sparsity(sparsity, "sparsity")
    if scope not in SCOPES:
        raise ConfigError(f"scope must be one of {', '.join(SCOPES)}; received {scope!r}.")
    key_sparsity = dict(key_sparsity or {})
    masks = {}
    own = [k for k in scores if scope == "layer" or k in key_sparsity]
    for key in own:
        masks[key] = _lowest_mask(scores[key].ravel(), key_sparsity.get(key, sparsity)).reshape(scores[key].shape)
    pooled = [k for k in scores if k not in masks]
    if pooled:
        flat = _lowest_mask(np.concatenate([scores[k].ravel() for k in pooled]), sparsity)
        start = 0
        for key in pooled:
            size = scores[key].size
            masks[key] = flat[start:start + size].reshape(scores[key].shape)
            start += size
    return masks


def _lowest_mask(flat, sparsity):
    mask = np.ones(flat.size, dtype="float32")
    k = int(round(sparsity * flat.size))
    if k > 0:
        mask[np.argsort(flat, kind="stable")[:k]] = 0.0
    return mask


def apply_masks(model, masks):
    """Multiply the kernels of ``model`` by ``masks`` (dict ``"layer/attr"`` -> array) in place."""
    variables = kernel_map(model)
    for key, mask in masks.items():
        if key not in variables:
            raise ConfigError(f"mask for {key!r} matches no kernel of model {model.name!r}; "
                              f"kernels: {', '.join(variables)}.")
        variables[key].assign(variables[key] * tf.cast(mask, variables[key].dtype))


class MaskEnforcer(keras.callbacks.Callback):
    """Keeps pruned weights at zero during ``fit`` by re-applying masks after every training batch.

    The callback holds the kernel variables themselves, so it works whether the model is trained
    directly or nested as the student of a ``Distiller``.

    Args:
        model: the model whose kernels are masked (the one being fine-tuned, or nested in it).
        masks: dict ``"layer/attr"`` -> mask array (see ``masks_from_scores``).
    """

    def __init__(self, model, masks):
        super().__init__()
        variables = kernel_map(model)
        self._pairs = [(variables[k], tf.constant(m, dtype=variables[k].dtype)) for k, m in masks.items()]

    def _apply(self):
        for var, mask in self._pairs:
            var.assign(var * mask)

    def on_train_begin(self, logs=None):
        self._apply()

    def on_train_batch_end(self, batch, logs=None):
        self._apply()


def prune_gradient(model, trainer, sparsity, epochs, criterion="taylor", scope="global", batches=8,
                   layer_sparsity=None, exclude=select.DEFAULT_EXCLUDE, learning_rate=None):
    """Gradient-based pruning of a copy of ``model``, fine-tuned with masks held; return (model, info).

    Args:
        model: a trained, built ``tf_keras`` model (left unchanged).
        trainer: a ``tfcompress.Trainer``; importance uses ``trainer.batches("train", limit=batches)``.
        sparsity: share of kernel weights zeroed, over all pruned layers (``scope="global"``) or in
            each (``scope="layer"``).
        epochs: fine-tuning epochs after pruning (0 for none).
        criterion: ``"taylor"`` or ``"movement"``. Defaults to "taylor".
        scope: ``"global"`` or ``"layer"``. Defaults to "global".
        batches: number of training batches over which importance is accumulated. Defaults to 8.
        layer_sparsity: dict layer name -> sparsity, each ranked on its own. Defaults to None.
        exclude: layers left dense (names, ``"first_conv"``, ``"classifier"``). Defaults to both keywords.
        learning_rate: fine-tuning learning rate (None for the trainer's). Defaults to None.
    """
    targets = select.layer_targets(model, sparsity, layer_sparsity, exclude)
    if not targets:
        raise ConfigError(f"nothing to prune in model {model.name!r}: every weight layer is excluded or has "
                          "sparsity 0. Lower `exclude` or raise `sparsity`.")
    pruned = select.copy_model(model)
    scores = gradient_importance(pruned, trainer.batches("train", limit=batches), criterion, layers=targets)
    key_sparsity = {key: targets[key.split("/")[0]] for key in scores
                    if layer_sparsity and key.split("/")[0] in layer_sparsity}
    masks = masks_from_scores(scores, sparsity, scope, key_sparsity)
    apply_masks(pruned, masks)
    trainer.fit(pruned, epochs, callbacks=[MaskEnforcer(pruned, masks)], learning_rate=learning_rate)
    kept = {key: float(mask.mean()) for key, mask in masks.items()}
    return pruned, {"targets": targets, "criterion": criterion, "scope": scope, "kept_share": kept}
