"""A recipe whose data are an image folder runs end to end from the command line, streamed from disk."""

import json
import os
import shutil
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "datasets"))
from folders import digits_teacher, write_digits_folder  # noqa: E402

from tfcompress.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder_run")
    write_digits_folder(root / "digits")
    teacher = digits_teacher(root / "teacher.keras")
    from tfcompress import load_digits_data
    from tfcompress.train import accuracy

    data = load_digits_data()
    return root, accuracy(teacher, data["x_test"], data["y_test"])


def _recipe(root, name, stages, data="digits"):
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"teacher": "teacher.keras", "data": data, "output": name, "latency_runs": 5,
                                    "student": {"family": "cnn", "filters": [8, 16]}, "stages": stages}))
    return str(path)


def test_image_folder_recipe_runs_end_to_end(workspace):
    root, teacher_on_arrays = workspace
    stages = [{"distill": {"epochs": 3, "augment": None}}, {"export": {"format": "int8"}}]
    assert main(["run", _recipe(root, "out", stages), "--quiet"]) == 0
    report = json.loads((root / "out" / "report.json").read_text())
    teacher = report["teacher"]["float32"]
    assert teacher["split"] == "test" and teacher["eval_samples"] == 450
    assert abs(teacher["accuracy"] - teacher_on_arrays) <= 0.01  # the PNGs read back as the arrays they came from
    final = report["stages"][-1]["after"]
    assert os.path.getsize(root / "out" / "model.tflite") == final["tflite_bytes"] == report["summary"]["final_bytes"]
    assert final["accuracy"] >= 0.8 and final["eval_samples"] == 450
    cached = sorted(p.split("_")[1] for p in os.listdir(root / "out" / "cache"))
    assert cached == ["train", "val"]  # the teacher's logits on the fixed splits, on disk


def test_bad_folder_fails_in_one_line_before_any_stage(workspace, tmp_path, capsys):
    root, _ = workspace
    data = tmp_path / "bad"
    shutil.copytree(root / "digits", data)
    (data / "train" / "2" / "readme.md").write_text("notes")
    recipe = _recipe(root, "out_bad", [{"distill": {"epochs": 1}}], data=str(data))
    assert main(["run", recipe, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "readme.md is not an image" in err and "\n" not in err
    assert not (root / "out_bad" / "report.json").exists()
    os.remove(data / "train" / "2" / "readme.md")
    for split in ("train", "val", "test"):
        shutil.rmtree(data / split / "9")
    assert main(["run", recipe, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "has 9 classes" in err and "teacher predicts 10" in err


@pytest.mark.slow
def test_search_prune_and_qat_read_the_stream(workspace):
    root, _ = workspace
    stages = [{"search": {"max_trials": 2, "epochs": 1, "budget": {"max_bytes": 20000}}},
              {"distill": {"epochs": 2}},
              {"prune": {"method": "channel", "keep_ratio": 0.75, "epochs": 1}},
              {"quantize": {"method": "qat", "epochs": 1}}, {"export": {"format": "int8"}}]
    assert main(["run", _recipe(root, "out_all", stages), "--quiet"]) == 0
    report = json.loads((root / "out_all" / "report.json").read_text())
    assert [row["stage"] for row in report["stages"]] == ["search", "distill", "prune", "quantize", "export"]
    final = report["stages"][-1]["after"]
    assert final["eval_samples"] == 450 and final["accuracy"] >= 0.5


@pytest.mark.slow
def test_tf_data_datasets_from_python(workspace):
    from tfcompress import Pipeline, load_digits_data, tf

    root, teacher_on_arrays = workspace
    data = load_digits_data()
    datasets = {split: tf.data.Dataset.from_tensor_slices((data[f"x_{split}"], data[f"y_{split}"])).batch(50)
                for split in ("train", "val", "test")}
    pipe = Pipeline([{"distill": {"epochs": 2, "augment": None}}, {"export": {"format": "int8"}}],
                    teacher=str(root / "teacher.keras"), student={"family": "cnn", "filters": [8, 16]},
                    latency_runs=5)
    report = pipe.run(data=datasets, output_dir=root / "out_tfdata", verbose=0)
    assert report["teacher"]["float32"]["accuracy"] == pytest.approx(teacher_on_arrays, abs=1e-6)
    assert report["stages"][-1]["after"]["eval_samples"] == len(data["y_test"])
    assert os.path.exists(root / "out_tfdata" / "model.tflite")
