"""Each distinct model is converted once per run: counted from outside, by wrapping the TFLite converter.

``benchmarks/conversions.py --count-only`` wraps ``tf.lite.TFLiteConverter``'s constructors and runs the real
``tfcompress run`` command; nothing of tfcompress reports the count itself.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml
from run_files import tabular_files

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "conversions.py")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tabular_files(tmp_path_factory.mktemp("conversions"))[0]


def _count(root, name, stages):
    recipe = {"teacher": str(root / "teacher.keras"), "data": str(root / "data.npz"), "output": str(root / name),
              "student": {"family": "mlp", "units": [16]}, "latency_runs": 5, "stages": stages}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = subprocess.run([sys.executable, SCRIPT, "--count-only", "--", "run", str(path), "--quiet"],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert os.path.exists(root / name / "model.tflite")
    return counts


def test_distill_and_export_convert_to_int8_twice(workspace):
    counts = _count(workspace, "distill", [{"distill": {"epochs": 2}}, {"export": {"format": "int8"}}])
    assert counts["int8_conversions"] <= 2  # the teacher and the distilled student; the export reuses its file
    assert counts["int8_conversions"] == counts["int8_distinct_files"]


def test_distill_qat_and_export_convert_to_int8_three_times(workspace):
    counts = _count(workspace, "qat", [{"distill": {"epochs": 2}}, {"quantize": {"method": "qat", "epochs": 1}},
                                       {"export": {"format": "int8"}}])
    assert counts["int8_conversions"] <= 3  # teacher, distilled, QAT (its PTQ fallback reuses the distilled file)
    assert counts["int8_conversions"] == counts["int8_distinct_files"]


def test_a_recipe_with_tflm_and_an_arena_budget_measures_the_final_file(workspace):
    """``export: {tflm: true}`` from a recipe: the card holds the measured arena, 85% of which does not run, the
    report checks the budget's ``max_arena_bytes`` on it, and the C header allocates it plus the margin."""
    from tfcompress.export.tflm import measure_arena

    root = workspace
    recipe = {"teacher": str(root / "teacher.keras"), "data": str(root / "data.npz"), "output": str(root / "tflm"),
              "student": {"family": "mlp", "units": [16]}, "latency_runs": 5,
              "budget": {"max_bytes": 100000, "max_arena_bytes": 20000},
              "stages": [{"distill": {"epochs": 2}}, {"export": {"format": "int8", "tflm": True, "c_array": True}}]}
    (root / "tflm.yaml").write_text(yaml.safe_dump(recipe))
    out = subprocess.run([sys.executable, "-m", "tfcompress.cli", "run", str(root / "tflm.yaml"), "--quiet"],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    card = json.loads((root / "tflm" / "model.json").read_text())
    arena = card["tflm"]["arena_bytes"]
    assert card["tflm"]["argmax_agreement"] >= 0.99 and card["tflm"]["samples"] > 0
    probe = measure_arena((root / "tflm" / "model.tflite").read_bytes(), start=int(arena * 0.85) // 16 * 16)
    assert probe["arena_bytes"] == arena and probe["probes"] > 1  # 85% did not run: the search had to go up
    report = json.loads((root / "tflm" / "report.json").read_text())
    checks = {c["key"]: c for c in report["summary"]["budget"]["checks"]}
    assert checks["max_arena_bytes"]["value"] == arena and checks["max_arena_bytes"]["met"]
    assert f"{card['tflm']['arena_with_margin_bytes']}" in (root / "tflm" / "model.h").read_text()
