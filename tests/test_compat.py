"""Every private access of tfcompress/_compat.py still works on the pinned versions (one test per function)."""

import pytest

from tfcompress import _compat
from tfcompress._keras import keras, tf

L = keras.layers


@pytest.fixture
def model():
    inputs = keras.Input((4,), name="x")
    hidden = L.Dense(3, name="hidden")(inputs)
    return keras.Model(inputs, L.Dense(2, name="out")(hidden + 1.0), name="m")


def test_is_graph_network(model):
    assert _compat.is_graph_network(model)
    assert _compat.is_graph_network(keras.Sequential([keras.Input((2,)), L.Dense(1)]))

    class Sub(keras.Model):
        def call(self, x):
            return x

    assert not _compat.is_graph_network(Sub())


def test_nodes_by_depth(model):
    by_depth = _compat.nodes_by_depth(model)
    assert by_depth[0][0].layer.name == "out"
    assert max(by_depth) == 3  # x -> hidden -> + 1.0 -> out


def test_keras_history(model):
    history = _compat.keras_history(model.outputs[0])
    assert history.layer.name == "out" and history.node_index == 0 and history.tensor_index == 0


def test_graph_nodes(model):
    assert [n.layer.name for n in _compat.graph_nodes(model)][::2] == ["hidden", "out"]  # no InputLayer node


def test_tf_op_layer_types(model):
    tf_op, slicing = _compat.tf_op_layer_types()
    assert isinstance(model.layers[2], tf_op) and issubclass(slicing, L.Layer)
    sliced = keras.Input((4,))[:, :2]
    assert isinstance(_compat.keras_history(sliced).layer, slicing)


def test_tf_op_symbol(model):
    assert _compat.tf_op_symbol(model.layers[2]) == "__operators__.add"
    assert _compat.tf_op_symbol(_compat.keras_history(tf.nn.relu6(keras.Input((3,)))).layer) == "nn.relu6"


def test_tfmot_prune_registry():
    registry = _compat.tfmot_prune_registry()
    assert registry.supports(L.Dense(2)) and not registry.supports(L.Attention())


def test_tfmot_registered_weights():
    assert _compat.tfmot_registered_weights(L.Dense(2)) == ("kernel",)
    assert _compat.tfmot_registered_weights(L.BatchNormalization()) == ()
    assert _compat.tfmot_registered_weights(L.LSTM(2)) is None  # RNNs are listed by cell, not by class


def test_missing_access_raises_compat_error_naming_library_and_attribute():
    with pytest.raises(_compat.CompatError, match=r"tf_keras .* has no Functional._nodes_by_depth"):
        _compat.nodes_by_depth(object())


def test_build_input_shape():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    sub = Sub()
    assert _compat.build_input_shape(sub) is None
    sub.build((None, 3))
    assert tuple(_compat.build_input_shape(sub)) == (None, 3)


def test_tensor_usage_count(model):
    usage = _compat.tensor_usage_count(model)
    assert usage[str(id(model.inputs[0]))] == 1 and usage[str(id(model.outputs[0]))] == 1


def test_nested_outputs():
    inputs = keras.Input((3,))
    a, b = L.Dense(1, name="a")(inputs), L.Dense(2, name="b")(inputs)
    nested = _compat.nested_outputs(keras.Model(inputs, {"first": a, "second": b}))
    assert sorted(nested) == ["first", "second"] and nested["first"] is a


def test_is_keras3_class():
    keras3 = pytest.importorskip("keras")
    model = keras3.Sequential([keras3.Input((2,)), keras3.layers.Dense(1)])
    assert _compat.is_keras3_class(type(model), "models") and _compat.is_keras3_class(keras3.layers.Dense)
    assert not _compat.is_keras3_class(keras3.layers.Dense, "models") and not _compat.is_keras3_class(L.Dense)


def _tflite(model):
    from tfcompress.export import convert

    return convert(model, "float")


def test_converter_error():
    error = _compat.converter_error()
    assert issubclass(error, Exception) and error.__name__ == "ConverterError"


def test_interpreter_ops(model):
    from tfcompress.export.runtime import make_interpreter

    interpreter = make_interpreter(_tflite(model), delegates=False)
    ops = _compat.interpreter_ops(interpreter)
    assert [op["op_name"] for op in ops].count("FULLY_CONNECTED") == 2 and all("outputs" in op for op in ops)


def test_tflite_schema(model):
    schema = _compat.tflite_schema()
    flat = _tflite(model)
    graph = schema.Model.GetRootAs(flat, 0).Subgraphs(0)
    assert graph.OperatorsLength() >= 2 and graph.InputsLength() == 1
    # the object API that tfcompress.export.mixed.with_signature unpacks, edits and packs again
    unpacked = schema.ModelT.InitFromPackedBuf(bytearray(flat), 0)
    assert len(unpacked.subgraphs[0].inputs) == 1 and not unpacked.signatureDefs
    assert callable(schema.SignatureDefT) and callable(schema.TensorMapT)


def test_silence_condition_print(capsys):
    conditions = _compat.silence_condition_print()
    proto = conditions.Parent("family", ["cnn"]).to_proto()  # what a distributed search sends over gRPC
    assert capsys.readouterr().out == "" and proto.parent.name == "family"
    print("still prints")  # only that module's print is muted
    assert capsys.readouterr().out == "still prints\n"


def test_oracle_ongoing_trials_hand_over_and_keep_tuner(tmp_path):
    import keras_tuner

    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("score", "max"), max_trials=3,
                                                    seed=0)
    hp = keras_tuner.HyperParameters()
    hp.Int("width", 1, 8)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.update_space(hp)
    trial = oracle.create_trial("tuner0")
    assert _compat.ongoing_trials(oracle) == {"tuner0": trial}
    assert _compat.hand_over_trial(oracle, "tuner0", "tuner1") is trial
    assert _compat.ongoing_trials(oracle) == {"tuner1": trial} and oracle.tuner_ids == {"tuner1"}
    assert oracle.create_trial("tuner1") is trial  # the oracle now hands it to tuner1
    _compat.keep_tuner(oracle, "tuner2")
    assert "tuner2" in oracle.tuner_ids
