"""Magnitude pruning through TFMOT, with per-layer targets and exclusions, as functions (the stage is in ``stages.py``).

The TFMOT verbs (wrap -> train with ``UpdatePruningStep`` -> strip) are kept,
but done for the user: ``wrap_for_pruning`` wraps only the chosen layers of a
*copy* of the model (``keras.models.clone_model`` with a ``clone_function``),
each with its own schedule; ``pruning_callbacks`` returns the callback TFMOT
requires; ``strip`` removes the wrappers and leaves plain layers holding
sparse kernels.

Example:
    >>> import tfcompress as tc
    >>> from tfcompress.prune import MagnitudePruning
    >>> stage = MagnitudePruning(sparsity=0.8, epochs=2)
    >>> small = stage.apply(model, tc.Trainer(data))  # doctest: +SKIP
"""

from tfcompress._compat import is_graph_network, tfmot_prune_registry, tfmot_registered_weights
from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.prune import select
from tfcompress.prune.schedule import describe_schedule, make_schedule, steps_per_epoch

import tensorflow_model_optimization as tfmot  # noqa: E402

_sparsity = tfmot.sparsity.keras


def tfmot_prunable(layer):
    """True if TFMOT's magnitude pruning would zero some weights of ``layer`` (e.g. Dense, Conv2D)."""
    if hasattr(layer, "get_prunable_weights"):
        return True
    if not tfmot_prune_registry().supports(layer):
        return False
    weights = tfmot_registered_weights(layer)
    return True if weights is None else bool(weights)  # None: RNN layers with supported cells


def wrap_for_pruning(model, schedules, sparsity_m_by_n=None, copy=True):
    """Wrap the named layers of ``model`` in TFMOT ``PruneLowMagnitude`` wrappers.

    Args:
        model: a built functional or Sequential ``tf_keras`` model.
        schedules: dict layer name -> TFMOT ``PruningSchedule`` (see ``make_schedule``). Other layers
            stay as they are.
        sparsity_m_by_n: e.g. ``(2, 4)`` for m-by-n structured sparsity (then the schedules only say
            *that* a layer is pruned; TFMOT sets the mask once, at the first step). Defaults to None.
        copy: wrap a copy, leaving ``model`` untouched (otherwise the wrapped model shares, and
            training changes, the layers of ``model``). Defaults to True.

    Returns:
        A new model to train with ``pruning_callbacks()`` and then ``strip``.

    Raises:
        ConfigError: a named layer is missing or cannot be pruned by TFMOT.
        ModelError: the model is subclassed or not built.
    """
    select.check_model(model)
    if not (isinstance(model, keras.Sequential) or is_graph_network(model)):
        raise ModelError(f"model {model.name!r} is a subclassed model; magnitude pruning needs a functional or "
                         "Sequential tf_keras model.")
    base = select.copy_model(model) if copy else model
    names = {layer.name for layer in base.layers}
    for name in schedules:
        if name not in names:
            raise ConfigError(f"no layer named {name!r} in model {model.name!r}; layers: {', '.join(sorted(names))}.")
        if not tfmot_prunable(base.get_layer(name)):
            raise ConfigError(f"TFMOT cannot prune layer {name!r} ({type(base.get_layer(name)).__name__}); "
                              "exclude it or use gradient pruning.")

    def clone_function(layer):
        if layer.name in schedules:
            return _sparsity.prune_low_magnitude(layer, pruning_schedule=schedules[layer.name],
                                                 sparsity_m_by_n=sparsity_m_by_n)
        return layer

    wrapped = keras.models.clone_model(base, clone_function=clone_function)
    return wrapped


def pruning_callbacks():
    """The callbacks TFMOT pruning needs during ``fit`` (``UpdatePruningStep``), as a list."""
    return [_sparsity.UpdatePruningStep()]


def strip(model):
    """Remove TFMOT pruning wrappers; the plain layers keep the (sparse) kernels."""
    return _sparsity.strip_pruning(model)


def magnitude_targets(model, sparsity, layer_sparsity=None, exclude=select.DEFAULT_EXCLUDE):
    """Like ``select.layer_targets``, restricted to layers TFMOT can prune (e.g. not DepthwiseConv2D)."""
    targets = select.layer_targets(model, sparsity, layer_sparsity, exclude)
    for name in list(targets):
        if not tfmot_prunable(model.get_layer(name)):
            if layer_sparsity and name in layer_sparsity:
                raise ConfigError(f"layer_sparsity names {name!r} ({type(model.get_layer(name)).__name__}), "
                                  "which TFMOT magnitude pruning cannot prune; use method 'gradient' for it.")
            del targets[name]
    return targets


def prune_magnitude(model, trainer, sparsity, epochs, schedule="polynomial", layer_sparsity=None,
                    exclude=select.DEFAULT_EXCLUDE, initial_sparsity=0.0, end_fraction=0.6, updates=None,
                    learning_rate=None):
    """Magnitude-prune ``model`` while fine-tuning it with ``trainer``; return (stripped model, info).

    Args:
        model: a trained, built ``tf_keras`` model (left unchanged).
        trainer: a ``tfcompress.Trainer`` (its data size and batch size set the schedule's steps).
        sparsity: target share of zero kernel weights per pruned layer, in [0, 1).
        epochs: fine-tuning epochs (>= 1).
        schedule: ``"polynomial"`` or ``"constant"`` (see ``make_schedule``). Defaults to "polynomial".
        layer_sparsity: dict layer name -> sparsity overriding ``sparsity``. Defaults to None.
        exclude: layers left dense (names, ``"first_conv"``, ``"classifier"``). Defaults to both keywords.
        initial_sparsity: start of the polynomial schedule. Defaults to 0.0.
        end_fraction: share of the run by which the polynomial schedule reaches ``sparsity``. Defaults to 0.6.
        updates: number of mask updates (None for about 10). Defaults to None.
        learning_rate: fine-tuning learning rate (None for the trainer's). Defaults to None.

    Returns:
        ``(pruned_model, info)`` where info is a JSON-able dict (targets, schedule, steps).
    """
    targets = magnitude_targets(model, sparsity, layer_sparsity, exclude)
    if not targets:
        raise ConfigError(f"nothing to prune in model {model.name!r}: every weight layer is excluded or has "
                          "sparsity 0. Lower `exclude` or raise `sparsity`.")
    steps = steps_per_epoch(trainer.split("train").size, trainer.batch_size)
    schedules = {name: make_schedule(schedule, value, epochs, steps, initial_sparsity=min(initial_sparsity, value),
                                     end_fraction=end_fraction, updates=updates)
                 for name, value in targets.items()}
    wrapped = wrap_for_pruning(model, schedules)
    trainer.fit(wrapped, epochs, callbacks=pruning_callbacks(), learning_rate=learning_rate)
    pruned = strip(wrapped)
    info = {"targets": targets, "steps_per_epoch": steps,
            "schedule": describe_schedule(next(iter(schedules.values())))}
    return pruned, info
