"""What Keras ``fit`` is given for a split: arrays as they are, or a streamed ``tf.data`` pipeline.

Arrays in memory go to ``fit`` as arrays (Keras shuffles them; the ``Distiller`` pairs them with the teacher's
outputs from the run's cache). A streamed split becomes shuffled, prefetched batches; when the teacher guides
the training on fixed (unaugmented) inputs, its logits come from the on-disk cache
(``TeacherCache.split_logits``) by sample index, so the teacher is not run again during the fit.
"""

from tfcompress.distill.augment import augmented_batches, mixup_fn, shift_fn


def fit_feed(split, batch_size, shift=False, mixup=0.0, teacher_cache=None, seed=None):
    """The ``x``, ``y`` and ``batch_size`` arguments of ``fit`` for the training split.

    Args:
        split: the training ``Split``.
        batch_size: samples per batch.
        shift, mixup: augmentations (``tfcompress.distill.augment``). Default False and 0.
        teacher_cache: the run's ``TeacherCache`` when a teacher guides the fit on a streamed split and the
            inputs are not augmented; its cached logits become part of the labels. Defaults to None.
        seed: shuffle seed of a streamed split. Defaults to None.
    """
    if not split.streamed:
        if shift or mixup:
            return {"x": augmented_batches(split.x, split.y, batch_size, shift=shift, mixup=mixup, seed=seed),
                    "y": None, "batch_size": None}
        return {"x": split.x, "y": split.y, "batch_size": batch_size}
    augmented = bool(shift or mixup)
    targets = teacher_cache.split_logits(split) if teacher_cache is not None and not augmented else None
    ds = split.dataset(batch_size, shuffle=True, seed=seed, targets=targets,
                       map_fn=shift_fn(split.sample_shape) if shift else None,
                       batch_fn=mixup_fn(mixup) if mixup else None)
    return {"x": ds, "y": None, "batch_size": None}


def validation_feed(split, batch_size, teacher_cache=None):
    """The ``validation_data`` of ``fit``: ``(x, y)`` arrays, or a streamed split's batches (with the cached
    teacher logits when ``teacher_cache`` is given)."""
    if not split.streamed:
        return (split.x, split.y)
    targets = teacher_cache.split_logits(split) if teacher_cache is not None else None
    return split.dataset(batch_size, targets=targets)


__all__ = ["fit_feed", "validation_feed"]
