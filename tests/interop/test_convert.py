"""Tests of tfcompress.interop: Keras 3 models and files -> tf_keras."""

import zipfile

import numpy as np
import pytest

from tfcompress import interop
from tfcompress._keras import keras
from tfcompress.errors import ModelError

keras3 = pytest.importorskip("keras")  # Keras 3, the standalone package (separate from tf_keras)


def _x(shape, n=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


def _assert_same_outputs(k3_model, tfk_model, x):
    want = np.asarray(k3_model(x, training=False))
    got = tfk_model(x, training=False).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def _randomize(model, seed=0):
    """Give every weight fresh random values, so that equal outputs prove the weights were copied
    (the autouse seed fixture would otherwise make both frameworks' initializers agree)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, size=w.shape).astype("float32") for w in model.get_weights()])


def _sequential_cnn():
    model = keras3.Sequential([
        keras3.Input((8, 8, 1), name="image"),
        keras3.layers.Rescaling(0.5, offset=0.1, name="rescale"),
        keras3.layers.ZeroPadding2D(1, name="pad"),
        keras3.layers.Conv2D(4, 3, kernel_regularizer=keras3.regularizers.L2(0.01), name="conv"),
        keras3.layers.BatchNormalization(name="bn"),
        keras3.layers.ReLU(name="relu"),
        keras3.layers.MaxPooling2D(2, name="pool"),
        keras3.layers.Flatten(name="flat"),
        keras3.layers.Dropout(0.3, name="drop"),
        keras3.layers.Dense(5, name="logits"),
        keras3.layers.Softmax(name="probs"),
    ], name="seq_cnn")
    _randomize(model)
    return model


def test_sequential_cnn_with_batchnorm_is_rebuilt_with_same_outputs():
    k3 = _sequential_cnn()
    model = interop.to_tf_keras(k3)
    assert interop.is_tf_keras_model(model) and isinstance(model, keras.Sequential)
    assert [layer.name for layer in model.layers] == [layer.name for layer in k3.layers]
    _assert_same_outputs(k3, model, _x((8, 8, 1), seed=1))
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.asarray(k3.get_layer("bn").moving_mean))
    reg = model.get_layer("conv").kernel_regularizer
    assert isinstance(reg, keras.regularizers.L2) and np.isclose(reg.get_config()["l2"], 0.01)


def test_functional_dag_with_add_concatenate_and_shared_layer():
    inp = keras3.Input((8, 8, 3), name="inp")
    a = keras3.layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(inp)
    b = keras3.layers.Conv2D(4, 1, name="b")(inp)
    b = keras3.layers.BatchNormalization(name="bn")(b)
    s = keras3.layers.Add(name="add")([a, b])
    shared = keras3.layers.Conv2D(4, 1, name="shared")
    c = keras3.layers.Concatenate(name="cat")([shared(s), shared(a), inp])
    c = keras3.layers.AveragePooling2D(2, name="avg")(c)
    g1 = keras3.layers.GlobalAveragePooling2D(name="gap")(c)
    g2 = keras3.layers.GlobalMaxPooling2D(name="gmp")(c)
    h = keras3.layers.Concatenate(name="heads")([g1, g2])
    h = keras3.layers.Reshape((2, 11), name="reshape")(h)
    h = keras3.layers.Flatten(name="flat")(h)
    out = keras3.layers.Activation("tanh", name="act")(keras3.layers.Dense(3, name="dense")(h))
    k3 = keras3.Model(inp, out, name="dag")
    _randomize(k3)

    model = interop.to_tf_keras(k3)
    assert interop.is_tf_keras_model(model) and model.name == "dag"
    assert len(model.get_layer("shared").inbound_nodes) == 2  # still one shared layer, called twice
    assert len(model.weights) == len(k3.weights)
    _assert_same_outputs(k3, model, _x((8, 8, 3), seed=2))


def test_separable_depthwise_leaky_relu_and_conv1d():
    inp = keras3.Input((8, 8, 3))
    x = keras3.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(inp)
    x = keras3.layers.SeparableConv2D(5, 3, name="sep")(x)
    x = keras3.layers.LeakyReLU(negative_slope=0.2, name="leaky")(x)
    x = keras3.layers.Reshape((36, 5))(x)
    x = keras3.layers.Conv1D(3, 3, name="c1d")(x)
    x = keras3.layers.GlobalAveragePooling1D()(x)
    k3 = keras3.Model(inp, x)
    _randomize(k3)
    model = interop.to_tf_keras(k3)
    assert np.isclose(model.get_layer("leaky").get_config()["alpha"], 0.2)
    assert len(model.get_layer("sep").weights) == 3  # depthwise, pointwise, bias
    _assert_same_outputs(k3, model, _x((8, 8, 3), seed=3))


def test_nested_model_and_two_inputs():
    inner = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(3, name="inner_dense")], name="inner")
    a, b = keras3.Input((4,), name="a"), keras3.Input((4,), name="b")
    out = keras3.layers.Add(name="add")([inner(a), inner(b)])
    k3 = keras3.Model([a, b], out)
    _randomize(k3)
    model = interop.to_tf_keras(k3)
    assert isinstance(model.get_layer("inner"), keras.Model)
    xa, xb = _x((4,), seed=4), _x((4,), seed=5)
    np.testing.assert_allclose(model([xa, xb]).numpy(), np.asarray(k3([xa, xb])), atol=1e-5)


def test_tf_keras_model_is_returned_unchanged():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert interop.to_tf_keras(model) is model
    assert interop.ensure_tf_keras(model) is model


def test_unsupported_keras3_layer_is_named():
    k3 = keras3.Sequential([keras3.Input((5, 3)), keras3.layers.LSTM(4, name="my_lstm"), keras3.layers.Dense(2)])
    with pytest.raises(ModelError, match=r"'my_lstm' \(LSTM\).*supported layers: InputLayer, Dense"):
        interop.to_tf_keras(k3)


def test_custom_layer_is_named():
    class Doubler(keras3.layers.Layer):
        def call(self, x):
            return 2 * x

    k3 = keras3.Sequential([keras3.Input((3,)), Doubler(name="twice")])
    with pytest.raises(ModelError, match=r"'twice' \(Doubler\)"):
        interop.to_tf_keras(k3)


def test_subclassed_model_and_non_model_are_refused():
    class Net(keras3.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras3.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(ModelError, match="subclassed"):
        interop.to_tf_keras(net)
    with pytest.raises(ModelError, match="expected a model path"):
        interop.ensure_tf_keras(42)
    with pytest.raises(ModelError, match="expected a Keras 3 or tf_keras model"):
        interop.to_tf_keras("not a model object")


def test_output_mismatch_raises(monkeypatch):
    k3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    k3.layers[0].set_weights([np.full((3, 2), 5.0, "float32"), np.ones(2, "float32")])  # not what init gives
    monkeypatch.setattr(interop.convert, "_copy_weights", lambda src, dst: None)  # simulate a wrong weight copy
    with pytest.raises(ModelError, match="differs from the Keras 3 model"):
        interop.to_tf_keras(k3, sample_inputs=_x((3,)))


def test_load_keras3_archive_gives_equal_outputs(tmp_path):
    k3 = _sequential_cnn()
    path = tmp_path / "teacher.keras"
    k3.save(path)
    with zipfile.ZipFile(path) as z:  # the file really is one tf_keras cannot read
        assert '"keras_version": "3' in z.read("metadata.json").decode()
    model = interop.load_model(path)
    assert interop.is_tf_keras_model(model)
    _assert_same_outputs(k3, model, _x((8, 8, 1), seed=6))
    model2 = interop.ensure_tf_keras(str(path))
    _assert_same_outputs(k3, model2, _x((8, 8, 1), seed=7))


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_load_tf_keras_files(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    _randomize(model)
    x = _x((3,))
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = interop.load_model(tmp_path / name)
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_bad_paths_give_model_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        interop.load_model(tmp_path / "missing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(ModelError, match="could not load a Keras model") as info:
        interop.load_model(corrupt)
    assert "\n" not in str(info.value)
    not_model = tmp_path / "data.h5"
    not_model.write_text("hello")
    with pytest.raises(ModelError, match="expected a .keras archive"):
        interop.load_model(not_model)


def test_lambda_layer_blocked_by_safe_mode_names_the_escape_hatch(tmp_path):
    k3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Lambda(lambda t: t * 2, name="lam")])
    path = tmp_path / "lambda.keras"
    k3.save(path)
    with pytest.raises(ModelError, match=r"safe_mode=False \(CLI: --unsafe-load\)"):
        interop.load_model(path)
    with pytest.raises(ModelError, match=r"'lam' \(Lambda\)"):  # trusted, but Lambda cannot be carried over
        interop.load_model(path, safe_mode=False)


def test_converted_model_is_accepted_by_tfmot():
    import tensorflow_model_optimization as tfmot  # after tfcompress._keras, as TFMOT needs tf_keras

    k3 = keras3.Sequential([keras3.Input((8, 8, 1)), keras3.layers.Conv2D(4, 3), keras3.layers.BatchNormalization(),
                            keras3.layers.ReLU(), keras3.layers.Flatten(), keras3.layers.Dense(3)])
    model = interop.to_tf_keras(k3)
    qat = tfmot.quantization.keras.quantize_model(model)
    assert any("quant" in layer.name for layer in qat.layers)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model)
    assert any(layer.name.startswith("prune_low_magnitude") for layer in pruned.layers)


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_load_keras3_h5_file(tmp_path):
    k3 = keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(4, activation="relu"),
                            keras3.layers.BatchNormalization(), keras3.layers.Dense(2)])
    _randomize(k3)
    path = tmp_path / "k3.h5"
    k3.save(path)
    model = interop.load_model(path)
    _assert_same_outputs(k3, model, _x((6,), seed=8))


def test_tf_keras_lambda_and_saved_model_folders(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2, name="lam")])
    model.save(tmp_path / "lam.keras")
    with pytest.raises(ModelError, match="safe_mode=False"):
        interop.load_model(tmp_path / "lam.keras")
    x = _x((3,))
    trusted = interop.ensure_tf_keras(tmp_path / "lam.keras", safe_mode=False)
    np.testing.assert_allclose(trusted(x).numpy(), 2 * x)
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    _randomize(dense)
    dense.save(tmp_path / "saved")
    np.testing.assert_allclose(interop.load_model(tmp_path / "saved")(x).numpy(), dense(x).numpy(), atol=1e-6)


def test_keras3_export_folder_is_refused_with_a_reason(tmp_path):
    k3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    k3.export(str(tmp_path / "exported"), verbose=False)
    with pytest.raises(ModelError, match="SavedModel without Keras metadata"):
        interop.load_model(tmp_path / "exported")


def test_remaining_supported_layers_round_trip():
    L = keras3.layers
    inp = keras3.Input((8, 8, 2))
    x = L.Cropping2D(1)(L.UpSampling2D(2)(inp))                   # (14, 14, 2)
    x = L.SpatialDropout2D(0.2)(L.LayerNormalization()(x))
    x = L.Permute((2, 1, 3))(x)
    a, b = L.Conv2D(2, 1)(x), L.Conv2D(2, 1)(x)
    x = L.Maximum()([L.Subtract()([a, b]), L.Multiply()([a, b]), L.Average()([a, b]), L.Minimum()([a, b])])
    x = L.Reshape((14 * 14, 2))(x)
    x = L.ZeroPadding1D(1)(x)
    x = L.Concatenate()([L.GlobalMaxPooling1D()(L.MaxPooling1D(2)(x)),
                         L.GlobalAveragePooling1D()(L.AveragePooling1D(2)(x))])
    k3 = keras3.Model(inp, x)
    _randomize(k3)
    used = {type(layer).__name__ for layer in k3.layers}
    model = interop.to_tf_keras(k3)
    _assert_same_outputs(k3, model, _x((8, 8, 2), seed=9))
    covered = used | {"Dense", "Conv1D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "MaxPooling2D",
                      "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Activation", "ReLU",
                      "LeakyReLU", "Softmax", "Dropout", "Flatten", "Add", "Rescaling", "ZeroPadding2D"}
    assert set(interop.SUPPORTED_LAYERS) <= covered  # every supported layer is exercised by some test here


def test_keras3_only_option_is_refused_not_dropped():
    k3 = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(3, name="adapted")])
    k3.layers[0].enable_lora(2)
    with pytest.raises(ModelError, match=r"'adapted' \(Dense\): Keras 3 option lora_rank=2"):
        interop.to_tf_keras(k3)


@pytest.mark.parametrize("target", ["lam.h5", "lam_saved"])
def test_safe_mode_also_guards_h5_files_and_saved_model_folders(tmp_path, target):
    ran = []

    def side_effect(t):
        ran.append(1)
        return t * 2

    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(side_effect, name="lam")])
    model.save(tmp_path / target)
    ran.clear()
    with pytest.raises(ModelError, match="safe_mode=False"):
        interop.load_model(tmp_path / target)
    assert not ran  # refused before any stored code could run
    trusted = interop.load_model(tmp_path / target, safe_mode=False)
    np.testing.assert_allclose(trusted(_x((3,))).numpy(), 2 * _x((3,)))
