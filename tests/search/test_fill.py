"""``SearchStage(min_fill=...)``: candidates that would leave most of a byte budget unused are skipped."""

import pytest

from tfcompress.errors import ConfigError
from tfcompress.search.stages import FillBudget, SearchStage


def test_fill_budget_rejects_small_fully_measured_candidates():
    budget = FillBudget(min_fill=0.5, max_bytes=10000)
    assert budget.violations({"params": 10, "int8_bytes": 3000}) == []  # reachability check: no latency
    small = budget.violations({"params": 10, "int8_bytes": 3000, "latency_us": 5.0})
    assert len(small) == 1 and "leaves the budget unused" in small[0]
    assert budget.violations({"int8_bytes": 6000, "latency_us": 5.0}) == []
    assert budget.violations({"int8_bytes": 12000, "latency_us": 5.0}) == ["int8_bytes 12000 > max_bytes 10000"]
    assert budget.get_config()["max_bytes"] == 10000
    assert "at least a byte per weight" in budget.violations({"params": 20000})[0]  # before any conversion


@pytest.mark.parametrize("bad", [0, 1, 1.5, "half", True])
def test_min_fill_must_be_a_share(bad):
    with pytest.raises(ConfigError, match="min_fill"):
        SearchStage(budget={"max_bytes": 1000}, min_fill=bad)


def test_min_fill_round_trips():
    stage = SearchStage(budget={"max_bytes": 1000}, min_fill=0.6, learning_rate=0.01)
    again = SearchStage.from_config(stage.get_config())
    assert again.get_config() == stage.get_config()
    assert again.min_fill == 0.6 and again.learning_rate == 0.01


def test_reachability_check_ignores_the_floor_also_with_a_latency_bound(digits):
    """With max_latency_us the smallest candidate is measured with its latency; the floor must not refuse it."""
    import keras_tuner

    from tfcompress.search.search import check_reachable
    from tfcompress.search.spaces import CNNSpace

    space = CNNSpace((8, 8, 1), 10)
    hp = keras_tuner.HyperParameters()
    space.build(hp)
    budget = FillBudget(min_fill=0.6, max_bytes=17000, max_latency_us=1000.0)
    assert budget.ceiling().get_config() == {"max_bytes": 17000, "max_params": None, "max_latency_us": 1000.0}
    measured = check_reachable(space, hp, budget, digits["x_val"][:64])
    assert measured["int8_bytes"] < 0.6 * 17000  # the smallest candidate is below the floor, and accepted
    assert budget.violations(measured)  # while a trial of that size would be skipped
