"""The ``tfcompress`` command: error path (one line, exit 2, no traceback), --debug, demo --quick."""

import json
import os

import pytest

from tfcompress.cli import build_parser, main
from tfcompress.errors import ConfigError
from tfcompress.pipeline.registry import stage_names


def test_missing_recipe_is_one_line_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "missing.yaml" in err and "Traceback" not in err


def test_invalid_recipe_names_the_line(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("teacher: t.keras\ndata: d.npz\noutput: out\nstages:\n  - prune: {sparsiti: 0.5}\n")
    assert main(["run", str(recipe), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 5" in err and "did you mean 'sparsity'" in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_missing_data_file_is_reported(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("teacher: t.keras\ndata: d.npz\noutput: out\nstages: []\n")
    assert main(["run", str(recipe), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "d.npz" in err and err.count("\n") == 1


def test_interrupt_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import tfcompress.pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tfcompress.pipeline, "run_recipe", interrupted)
    assert main(["run", str(tmp_path / "r.yaml")]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resume" in err


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(ConfigError):
        main(["run", str(tmp_path / "missing.yaml"), "--debug"])


def test_parser_has_the_contract():
    parser = build_parser()
    args = parser.parse_args(["run", "r.yaml", "--quiet", "--debug", "--unsafe-load"])
    assert (args.recipe, args.quiet, args.debug, args.unsafe_load) == ("r.yaml", True, True, True)
    args = parser.parse_args(["demo"])
    assert args.output is None and not args.quick and not args.update_bundled  # None: the user's cache folder
    with pytest.raises(SystemExit) as info:
        parser.parse_args([])
    assert info.value.code == 2


def test_demo_quick(tmp_path, capsys, monkeypatch):
    if "distill" not in stage_names():
        pytest.skip("the distill stage is not registered in this checkout")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tflite_models").mkdir()  # as in a checkout: the bundled model must stay as it is
    (tmp_path / "tflite_models" / "digits_int8.tflite").write_bytes(b"bundled")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "cache" / "tfcompress" / "demo"  # the default output, outside the checkout
    assert main(["demo", "--quick"]) == 0
    assert (tmp_path / "tflite_models" / "digits_int8.tflite").read_bytes() == b"bundled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "tflite_models"]
    screen = capsys.readouterr().out
    assert f"writing to {out}" in screen
    assert "whole run:" in screen and "teacher int8" in screen
    for name in ("digits_int8.tflite", "digits_int8.json", "recipe.yaml", "report.md", "teacher_quick.keras"):
        assert (out / name).exists(), name
    report = json.loads((out / "report.json").read_text())
    assert [r["stage"] for r in report["stages"]] == ["search", "distill", "prune", "quantize", "export"]
    assert report["summary"]["final_bytes"] == os.path.getsize(out / "digits_int8.tflite")
    # a working model: above chance (10 classes) even this small; the searched student varies with the search space
    assert report["summary"]["final_accuracy"] > 0.15
    assert "search_pareto.png" in report["files"]["plots"]
    budget = report["summary"]["budget"]  # the demo's budget is checked against the final file
    assert budget["limits"] == report["recipe"]["stages"][0]["search"]["budget"]
    assert budget["met"] == (report["summary"]["final_bytes"] <= budget["limits"]["max_bytes"])
    assert "budget met: " in screen or "budget NOT met: " in screen
    assert "**Budget:** " in (out / "report.md").read_text()


def test_demo_updates_the_bundled_model_only_on_purpose(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--quick", "--update-bundled"]) == 2
    assert "--update-bundled" in capsys.readouterr().err
