"""Resumable state: models (QAT ones included) saved after a stage load back with the same outputs."""

import numpy as np
import tensorflow_model_optimization as tfmot

from tfcompress import build_cnn
from tfcompress.pipeline.state import RunState, recipe_hash


def test_qat_model_state_round_trip(tmp_path):
    model = build_cnn((8, 8, 1), 3, filters=(4,), dense_units=0)
    qat = tfmot.quantization.keras.quantize_model(model)
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype="float32")
    state = RunState(str(tmp_path), "abc")
    state.record_stage(0, "quantize", qat, {"m": 1}, {"acc": 0.1}, {"acc": 0.2}, 1.0)
    again = RunState(str(tmp_path), "abc")
    assert again.load() == 1
    loaded = again.last_model()
    assert any("Quantize" in type(layer).__name__ for layer in loaded.layers)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), qat.predict(x, verbose=0), atol=1e-6)
    assert again.finished[0]["report"] == {"m": 1}


def test_recipe_hash_ignores_output_only():
    base = {"teacher": "t.keras", "output": "a", "stages": [{"prune": {"sparsity": 0.5}}]}
    assert recipe_hash(base) == recipe_hash({**base, "output": "b"})
    assert recipe_hash(base) != recipe_hash({**base, "stages": [{"prune": {"sparsity": 0.6}}]})


def test_a_new_recipe_clears_the_old_stage_folders(tmp_path):
    from tfcompress.pipeline.start import clear_stage_folders

    for folder in ("stage_1_search", "stage_2_feature_distill", "state", "notes"):
        (tmp_path / folder).mkdir()
    (tmp_path / "stage_1_search" / "trial.json").write_text("{}")
    (tmp_path / "state" / "stage_1.keras").write_text("x")
    (tmp_path / "state" / "state.json").write_text("{}")
    (tmp_path / "stage_3.txt").write_text("mine")
    clear_stage_folders(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "stage_3.txt", "state"]
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["state.json"]


def test_fingerprint_changes_with_teacher_weights_or_data():
    import numpy as np

    from tfcompress.pipeline.state import fingerprint

    w, d = [np.ones((2, 2), "float32")], [np.zeros(3, "float32")]
    base = fingerprint(w, d)
    assert fingerprint([np.ones((2, 2), "float32")], [np.zeros(3, "float32")]) == base
    assert fingerprint([w[0] * 2], d) != base
    assert fingerprint(w, [np.zeros(4, "float32")]) != base


def test_a_missing_middle_model_keeps_only_the_prefix_before_it(tmp_path):
    import json

    from tfcompress.pipeline.state import RunState

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    models = [state_dir / f"stage_{i + 1}.keras" for i in range(3)]
    for m in (models[0], models[2]):
        m.write_bytes(b"x")
    finished = [{"index": i, "key": "k", "model": str(m)} for i, m in enumerate(models)]
    (state_dir / "state.json").write_text(json.dumps({"version": 1, "recipe_hash": "h", "finished": finished}))
    state = RunState(str(tmp_path), "h")
    assert state.load() == 1
