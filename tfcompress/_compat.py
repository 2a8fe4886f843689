"""Every use of another library's private or version-dependent API, in one place.

tfcompress pins TensorFlow, tf_keras, TFMOT, KerasTuner and LiteRT, but an upgrade of any of them may move
a private attribute. Each function here wraps one such access and raises ``CompatError`` naming the attribute
and the installed version when it is gone, so an upgrade is one file to read (``tests/test_compat.py`` has a
test per access). KerasTuner method overrides stay in ``tfcompress/search/tuner.py``.
"""

from tfcompress.errors import TFCompressError


class CompatError(TFCompressError, RuntimeError):
    """A private API that tfcompress relies on is missing from the installed version of a library."""


def _missing(library, what, exc=None):
    try:
        version = __import__(library).__version__
    except Exception:  # noqa: BLE001 - a version we cannot read is reported as unknown
        version = "unknown"
    detail = f" ({exc})" if exc is not None else ""
    return CompatError(f"{library} {version} has no {what}{detail}; tfcompress was tested with the versions pinned "
                       f"in setup.cfg. Fix: install those versions (pip install -e .).")


def _private(obj, attr, library, what):
    """``getattr(obj, attr)``, or a ``CompatError`` naming ``library`` and ``what`` when the attribute is gone."""
    try:
        return getattr(obj, attr)
    except AttributeError as exc:
        raise _missing(library, what, exc) from None


# ---------------------------------------------------------------- tf_keras functional graphs
def is_graph_network(model):
    """Whether a tf_keras model has a functional graph (functional, or a built Sequential)."""
    return bool(getattr(model, "_is_graph_network", False))


def nodes_by_depth(model):
    """tf_keras ``Functional._nodes_by_depth``: dict depth -> list of nodes (depth 0 = the output nodes)."""
    return _private(model, "_nodes_by_depth", "tf_keras", "Functional._nodes_by_depth")


def keras_history(tensor):
    """tf_keras ``KerasTensor._keras_history``: ``(layer, node_index, tensor_index)`` of a symbolic tensor."""
    return _private(tensor, "_keras_history", "tf_keras", "KerasTensor._keras_history")


def build_input_shape(model):
    """tf_keras ``Model._build_input_shape``: the shape a subclassed model was built with, or None."""
    return getattr(model, "_build_input_shape", None)


def tensor_usage_count(model):
    """tf_keras ``Functional._tensor_usage_count``: how many nodes consume each tensor, keyed by ``str(id(t))``."""
    return _private(model, "_tensor_usage_count", "tf_keras", "Functional._tensor_usage_count")


def nested_outputs(model):
    """tf_keras ``Functional._nested_outputs``: the model's outputs in the structure it returns them."""
    return _private(model, "_nested_outputs", "tf_keras", "Functional._nested_outputs")


def is_keras3_class(klass, subpackage=None):
    """Whether class ``klass`` is defined in Keras 3's private ``keras.src`` package (in its ``subpackage``, e.g.
    ``"models"``, when given): Keras 3's public names re-export classes defined there."""
    prefix = "keras.src." + (f"{subpackage}." if subpackage else "")
    return klass.__module__.startswith(prefix)


def graph_nodes(model):
    """The non-input nodes of a functional tf_keras model in execution order (deepest first)."""
    nodes = []
    by_depth = nodes_by_depth(model)
    for depth in sorted(by_depth, reverse=True):
        nodes.extend(n for n in by_depth[depth] if not n.is_input)
    return nodes


def tf_op_layer_types():
    """The tf_keras layer classes that wrap a raw TensorFlow op in a functional model.

    ``x + 3.0``, ``x * y`` or ``tf.nn.relu6(x)`` on a KerasTensor make a ``TFOpLambda`` layer (``x[..., :4]``
    a ``SlicingOpLambda``); tf_keras does not export either class.

    Returns:
        ``(TFOpLambda, SlicingOpLambda)``.

    Raises:
        CompatError: the private module ``tf_keras.src.layers.core.tf_op_layer`` moved.
    """
    try:
        from tf_keras.src.layers.core import tf_op_layer

        return tf_op_layer.TFOpLambda, tf_op_layer.SlicingOpLambda
    except (ImportError, AttributeError) as exc:
        raise _missing("tf_keras", "tf_keras.src.layers.core.tf_op_layer.TFOpLambda", exc) from None


def tf_op_symbol(layer):
    """The TensorFlow API name a ``TFOpLambda`` layer calls, e.g. ``"math.multiply"`` or ``"__operators__.add"``."""
    return _private(layer, "symbol", "tf_keras", "TFOpLambda.symbol")


# ---------------------------------------------------------------- TFLite converter and LiteRT
def converter_error():
    """The TFLite converter's ``ConverterError`` class (raised for graphs it cannot convert); not exported."""
    try:
        from tensorflow.lite.python.convert_phase import ConverterError

        return ConverterError
    except ImportError as exc:
        raise _missing("tensorflow", "tensorflow.lite.python.convert_phase.ConverterError", exc) from None


def interpreter_ops(interpreter):
    """LiteRT ``Interpreter._get_ops_details()``: one dict per op (``op_name``, ``inputs``, ``outputs``, ...)."""
    return _private(interpreter, "_get_ops_details", "ai_edge_litert", "Interpreter._get_ops_details")()


def tflite_schema():
    """LiteRT's generated flatbuffer schema module (``ai_edge_litert.schema_py_generated``), to read a file's
    constant buffers."""
    try:
        from ai_edge_litert import schema_py_generated

        return schema_py_generated
    except ImportError as exc:
        raise _missing("ai_edge_litert", "ai_edge_litert.schema_py_generated", exc) from None


# ---------------------------------------------------------------- TFMOT
def tfmot_prune_registry():
    """TFMOT's ``PruneRegistry`` (which layer types magnitude pruning supports); TFMOT does not export it."""
    try:
        from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

        return prune_registry.PruneRegistry
    except (ImportError, AttributeError) as exc:
        raise _missing("tensorflow_model_optimization", "sparsity.keras.prune_registry.PruneRegistry", exc) from None


def tfmot_registered_weights(layer):
    """The weight attribute names TFMOT's registry prunes for ``layer``'s exact class, or None if it lists none.

    An empty tuple means the class is registered with nothing to prune (e.g. BatchNormalization).
    """
    registry = tfmot_prune_registry()
    table = _private(registry, "_LAYERS_WEIGHTS_MAP", "tensorflow_model_optimization",
                     "PruneRegistry._LAYERS_WEIGHTS_MAP")
    return tuple(table[layer.__class__]) if layer.__class__ in table else None


__all__ = ["CompatError", "is_graph_network", "nodes_by_depth", "keras_history", "graph_nodes", "build_input_shape",
           "tensor_usage_count", "nested_outputs", "is_keras3_class", "converter_error", "interpreter_ops",
           "tflite_schema",
           "tf_op_layer_types", "tf_op_symbol", "tfmot_prune_registry", "tfmot_registered_weights"]


# ---------------------------------------------------------------- KerasTuner
def silence_condition_print():
    """Mute the stray ``print(self.values[0])`` of KerasTuner 1.4.8's ``conditions.Parent.to_proto``.

    Every gRPC message of a distributed search that carries a conditional hyperparameter goes through it, so the
    chief and each worker printed a bare value per condition per message. The module's ``print`` (its only one)
    is shadowed; nothing else prints differently.
    """
    import importlib

    try:
        conditions = importlib.import_module("keras_tuner.src.engine.conditions")
        _private(conditions, "Parent", "keras_tuner", "keras_tuner.src.engine.conditions.Parent")
    except ImportError as exc:
        raise _missing("keras_tuner", "module keras_tuner.src.engine.conditions", exc) from None
    conditions.print = _no_print
    return conditions


def _no_print(*args, **kwargs):
    pass


def ongoing_trials(oracle):
    """A KerasTuner oracle's running trials by tuner id (``Oracle.ongoing_trials``, 1.4.8; no public accessor)."""
    return dict(_private(oracle, "ongoing_trials", "keras_tuner", "Oracle.ongoing_trials"))


def hand_over_trial(oracle, from_id, to_id):
    """Give the running trial of tuner ``from_id`` to tuner ``to_id`` in a KerasTuner oracle (1.4.8's
    ``ongoing_trials`` and ``tuner_ids``): ``to_id`` runs it, ``from_id`` no longer counts as a running tuner (the
    chief's ``exit_chief`` waits for both to empty). Returns the trial."""
    ongoing = _private(oracle, "ongoing_trials", "keras_tuner", "Oracle.ongoing_trials")
    tuner_ids = _private(oracle, "tuner_ids", "keras_tuner", "Oracle.tuner_ids")
    trial = ongoing.pop(from_id)
    tuner_ids.discard(from_id)
    ongoing[to_id] = trial
    tuner_ids.add(to_id)
    oracle.save()
    return trial


def keep_tuner(oracle, tuner_id):
    """Count ``tuner_id`` as a running tuner again (``Oracle.tuner_ids``, 1.4.8), after the oracle dropped it with
    a STOPPED answer that the chief turned into a wait."""
    _private(oracle, "tuner_ids", "keras_tuner", "Oracle.tuner_ids").add(tuner_id)
