"""Schedules computed from epochs: they must really reach the target within the run."""

import numpy as np
import pytest

from tfcompress.errors import ConfigError
from tfcompress.prune.schedule import make_schedule, steps_per_epoch


def _updates(schedule, total):
    """(step, sparsity) of every step 1..total at which TFMOT would update the masks."""
    out = []
    for step in range(1, total + 1):
        should, sparsity = schedule(np.int64(step))
        if bool(should):
            out.append((step, float(sparsity)))
    return out


def test_steps_per_epoch_counts_the_short_last_batch():
    assert steps_per_epoch(256, 32) == 8
    assert steps_per_epoch(257, 32) == 9
    with pytest.raises(ConfigError):
        steps_per_epoch(0, 32)


@pytest.mark.parametrize("epochs,steps", [(1, 3), (2, 8), (3, 50), (5, 21)])
def test_polynomial_reaches_final_sparsity_inside_the_run(epochs, steps):
    total = epochs * steps
    sched = make_schedule("polynomial", 0.8, epochs, steps, end_fraction=0.6)
    updates = _updates(sched, total)
    assert updates, "the schedule never updates the masks"
    assert updates[-1][1] == pytest.approx(0.8)
    assert updates[-1][0] <= total
    assert len(updates) <= 11
    sparsities = [s for _, s in updates]
    assert sparsities == sorted(sparsities)


@pytest.mark.parametrize("epochs,steps", [(1, 2), (2, 8), (3, 67)])
def test_constant_prunes_at_target_and_keeps_pruning_to_the_end(epochs, steps):
    total = epochs * steps
    sched = make_schedule("constant", 0.6, epochs, steps)
    updates = _updates(sched, total)
    assert updates and all(s == pytest.approx(0.6) for _, s in updates)
    assert updates[-1][0] > total - 2 * sched.frequency


@pytest.mark.parametrize("kwargs", [
    {"kind": "cubic"}, {"sparsity": 1.0}, {"sparsity": -0.1}, {"epochs": 0},
    {"begin_fraction": 0.7, "end_fraction": 0.5}, {"updates": 0},
])
def test_bad_arguments_raise_config_error(kwargs):
    args = {"kind": "polynomial", "sparsity": 0.5, "epochs": 2, "steps_per_epoch": 10, **kwargs}
    with pytest.raises(ConfigError):
        make_schedule(**args)
