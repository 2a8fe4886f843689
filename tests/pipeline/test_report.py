"""The report's budget check: the final file against the run's budget."""

from tfcompress.pipeline.report import budget_check, budget_line

FINAL = {"tflite_bytes": 9000, "params": 4000, "latency_median_us": 7.5}


def test_no_budget_gives_no_check():
    assert budget_check({"stages": [{"distill": {"epochs": 2}}]}, FINAL) is None
    assert budget_check({}, FINAL) is None


def test_recipe_budget_met_and_missed():
    met = budget_check({"budget": {"max_bytes": 10000, "max_params": 4000}}, FINAL)
    assert met["met"] and [c["key"] for c in met["checks"]] == ["max_bytes", "max_params"]
    assert budget_line(met) == "met: 9,000 B ≤ 10,000 (max_bytes); 4,000 params ≤ 4,000 (max_params)"
    missed = budget_check({"budget": {"max_bytes": 8000}}, FINAL)
    assert not missed["met"]
    assert budget_line(missed).startswith("NOT met: 9,000 B > 8,000 (max_bytes)")


def test_search_stage_budget_is_used_without_a_recipe_budget():
    config = {"stages": [{"search": {"max_trials": 2, "budget": {"max_latency_us": 5}}}, {"export": {}}]}
    check = budget_check(config, FINAL)
    assert check["limits"] == {"max_latency_us": 5} and not check["met"]
    assert budget_line(check) == "NOT met: 7.5 µs > 5.0 (max_latency_us)"


def test_unmeasured_value_does_not_count_as_met():
    check = budget_check({"budget": {"max_latency_us": 100}}, {"tflite_bytes": 10})
    assert check["checks"][0]["value"] is None and not check["met"]
