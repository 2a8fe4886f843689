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


def test_arena_budget_is_checked_on_the_measured_arena():
    check = budget_check({"budget": {"max_bytes": 10000, "max_arena_bytes": 3000}}, dict(FINAL, arena_bytes=3232))
    assert not check["met"]
    assert budget_line(check) == ("NOT met: 9,000 B ≤ 10,000 (max_bytes); 3,232 B of TFLM arena > 3,000 "
                                  "(max_arena_bytes)")
    unmeasured = budget_check({"budget": {"max_arena_bytes": 3000}}, FINAL)
    assert not unmeasured["met"] and "not measured (export with tflm: true)" in budget_line(unmeasured)


def test_a_card_with_tflm_gives_the_arena_and_default_stages_measure_it():
    from tfcompress.pipeline.defaults import default_stages
    from tfcompress.pipeline.measure import from_card

    card = {"accuracy": {"tflite": 0.9}, "latency": {"median_us": 5.0}, "file": {"bytes": 100, "gzip_bytes": 90},
            "tflm": {"arena_bytes": 2048}}
    data = {"x_val": [0], "y_val": [0]}
    assert from_card(card, data)["arena_bytes"] == 2048
    assert "arena_bytes" not in from_card(dict(card, tflm=None), data)
    assert default_stages({"max_arena_bytes": 4096})[-1] == {"export": {"format": "int8", "tflm": True}}
    assert default_stages({"max_bytes": 4096})[-1] == {"export": {"format": "int8"}}
