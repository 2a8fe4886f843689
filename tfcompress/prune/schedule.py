"""TFMOT pruning schedules computed from epochs and data size.

TFMOT schedules count optimizer steps (``begin_step``, ``end_step``,
``frequency``); users think in epochs.  ``make_schedule`` converts, and makes
sure the schedule really reaches its target within the training run: TFMOT
only updates masks on steps ``begin_step + k * frequency``, so a default
``frequency=100`` on a run of 80 steps never prunes at all, and a polynomial
schedule whose ``end_step`` is not such a step stops short of its final
sparsity.
"""

import math

from tfcompress._keras import keras  # noqa: F401  (selects tf_keras before TFMOT is imported)
from tfcompress.errors import ConfigError
from tfcompress.prune.select import check_sparsity

import tensorflow_model_optimization as tfmot  # noqa: E402

SCHEDULES = ("polynomial", "constant")


def steps_per_epoch(num_samples, batch_size):
    """Optimizer steps in one epoch of ``num_samples`` at ``batch_size`` (the last batch may be short)."""
    if num_samples <= 0 or batch_size <= 0:
        raise ConfigError(f"need num_samples > 0 and batch_size > 0; received {num_samples}, {batch_size}.")
    return int(math.ceil(num_samples / batch_size))


def make_schedule(kind, sparsity, epochs, steps_per_epoch, initial_sparsity=0.0, begin_fraction=0.0,
                  end_fraction=0.6, updates=None, power=3):
    """A TFMOT ``PruningSchedule`` for a fine-tuning run of ``epochs`` epochs.

    Args:
        kind: ``"polynomial"`` (``PolynomialDecay``: sparsity rises from ``initial_sparsity`` to
            ``sparsity``) or ``"constant"`` (``ConstantSparsity``: ``sparsity`` from the first update).
        sparsity: target share of zero weights, in [0, 1).
        epochs: epochs of the fine-tuning run (>= 1).
        steps_per_epoch: optimizer steps per epoch (see ``steps_per_epoch``).
        initial_sparsity: sparsity at the first update of a polynomial schedule. Defaults to 0.0.
        begin_fraction: share of the run before pruning begins. Defaults to 0.0.
        end_fraction: share of the run after which the polynomial schedule holds its final sparsity
            (the rest of the run lets the network recover); ignored by ``"constant"``, which keeps
            re-pruning until the end. Defaults to 0.6.
        updates: number of mask updates (polynomial: spread over begin..end; constant: over the whole
            run). None for about 10 per run, at most one per step. Defaults to None.
        power: exponent of the polynomial decay. Defaults to 3.

    Returns:
        A ``tfmot.sparsity.keras.PolynomialDecay`` or ``ConstantSparsity``.

    Raises:
        ConfigError: an argument is out of range.
    """
    if kind not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}; received {kind!r}.")
    check_sparsity(sparsity, "sparsity")
    check_sparsity(initial_sparsity, "initial_sparsity")
    if epochs < 1 or steps_per_epoch < 1:
        raise ConfigError(f"pruning needs at least one epoch of at least one step; received epochs={epochs}, "
                          f"steps_per_epoch={steps_per_epoch}. Give epochs >= 1.")
    if not 0.0 <= begin_fraction < 1.0 or not begin_fraction < end_fraction <= 1.0:
        raise ConfigError(f"need 0 <= begin_fraction < end_fraction <= 1; received {begin_fraction}, "
                          f"{end_fraction}.")
    if updates is not None and (int(updates) != updates or updates < 1):
        raise ConfigError(f"updates must be a positive integer or None; received {updates!r}.")
    total = int(epochs * steps_per_epoch)
    # Steps are counted from 1 inside the wrapper (the callback sets 0, the first batch increments it),
    # and the last batch of the run is step ``total``.
    begin = max(1, int(round(begin_fraction * total)))
    if kind == "constant":
        span = max(1, total - begin)
        n = min(updates or 10, span)
        frequency = max(1, int(math.ceil(span / n)))
        return tfmot.sparsity.keras.ConstantSparsity(float(sparsity), begin_step=begin, end_step=-1,
                                                     frequency=frequency)
    end_limit = max(begin + 1, min(total, int(round(end_fraction * total))))
    span = end_limit - begin
    n = min(updates or 10, span)
    frequency = max(1, int(math.ceil(span / n)))
    end = begin + frequency * (span // frequency)  # an update falls exactly on end_step
    return tfmot.sparsity.keras.PolynomialDecay(float(initial_sparsity), float(sparsity), begin_step=begin,
                                                end_step=end, power=power, frequency=frequency)


def describe_schedule(schedule):
    """JSON-able dict describing a TFMOT schedule (its class and step parameters)."""
    config = schedule.get_config()
    return {"class_name": config["class_name"], **config["config"]}
