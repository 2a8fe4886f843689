"""Teachers seen only through their outputs: a Keras 3 model the bridge cannot carry, a SavedModel signature, a
``.tflite`` file run in LiteRT.

Distillation, the search and every stage that trains a student need only what the teacher outputs. A black-box
teacher is a tf_keras functional model ``Input -> TeacherOutputs`` whose one layer calls the foreign model:
Keras 3 models and SavedModel signatures inside the TensorFlow graph (so the teacher can still be converted and
measured), ``.tflite`` files through the LiteRT interpreter (``tf.numpy_function``). It has no tf_keras weights,
so stages that change the teacher itself (pruning or quantizing it without a student) refuse it.

Teachers ending in a softmax are given as log-probabilities, which are logits of the same distribution: the
black box always outputs logits.
"""

import hashlib
import os

import numpy as np

from tfcompress._keras import keras, tf
from tfcompress.errors import ModelError

#: What ``model.black_box["kind"]`` says: where the outputs come from.
KINDS = ("keras3", "saved_model", "tflite")


class TeacherOutputs(keras.layers.Layer):
    """Calls a foreign model (kept out of tf_keras's tracking) and returns its outputs as logits.

    Args:
        fn: function from a float32 batch tensor to the model's output tensor (graph-callable).
        num_classes: output width.
        probabilities: whether ``fn`` gives probabilities (then their log is returned). Defaults to False.
    """

    def __init__(self, fn, num_classes, probabilities=False, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self._fns = (fn,)  # a tuple of a function: not tracked, so the foreign weights stay the foreign model's
        self.num_classes, self.probabilities = int(num_classes), bool(probabilities)

    def call(self, inputs):
        out = tf.cast(self._fns[0](tf.cast(inputs, tf.float32)), tf.float32)
        out = tf.reshape(out, [-1, self.num_classes])
        if self.probabilities:
            out = tf.math.log(tf.clip_by_value(out, 1e-30, 1.0))
        return out

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        raise ModelError("a black-box teacher cannot be saved or cloned: it only gives outputs. Stages that change "
                         "the teacher itself need a teacher tfcompress can rebuild in tf_keras.")


def _looks_like_probabilities(outputs):
    outputs = np.asarray(outputs, dtype="float64")
    return bool(np.all(outputs >= -1e-6) and np.all(np.abs(outputs.sum(axis=-1) - 1.0) < 0.02))


def _wrap(fn, numpy_fn, input_shape, kind, source, digest, params, name):
    probe = np.random.default_rng(0).normal(size=(4,) + tuple(input_shape)).astype("float32")
    sample = np.asarray(numpy_fn(probe))
    if sample.ndim != 2 or sample.shape[0] != 4 or sample.shape[1] < 2:
        raise ModelError(f"the {kind} teacher {source!r} outputs shape {sample.shape[1:]} per sample; tfcompress "
                         "needs class scores [batch, classes] from one output.")
    inputs = keras.Input(tuple(input_shape), name="teacher_input")
    outputs = TeacherOutputs(fn, sample.shape[1], _looks_like_probabilities(sample), name="teacher_outputs")(inputs)
    model = keras.Model(inputs, outputs, name=name)
    model.black_box = {"kind": kind, "source": source, "digest": digest, "params": params}
    return model


def is_black_box(model):
    """Whether ``model`` is a black-box teacher (see the module docstring)."""
    return getattr(model, "black_box", None) is not None


def from_keras3(model, source=None):
    """A black-box teacher calling a Keras 3 model (TensorFlow backend) in the graph."""
    shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if shape is None or any(d is None for d in shape):
        raise ModelError(f"the Keras 3 teacher {model.name!r} has input shape {model.input_shape}; a black-box "
                         "teacher needs one input of fixed shape (e.g. keras.Input((32, 32, 3))).")

    def fn(x):
        return model(x, training=False)

    weights = [np.asarray(w) for w in model.weights]
    digest = hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()[:16]
    params = int(sum(w.size for w in weights if w.dtype.kind == "f"))
    return _wrap(fn, lambda x: np.asarray(fn(tf.constant(x))), shape, "keras3", source or model.name, digest,
                 params, f"{model.name}_black_box")


def from_saved_model(path, signature="serving_default"):
    """A black-box teacher calling a SavedModel signature (one float input, one class-score output)."""
    loaded = tf.saved_model.load(os.fspath(path))
    if signature not in loaded.signatures:
        raise ModelError(f"SavedModel {os.fspath(path)!r} has no signature {signature!r} (it has "
                         f"{sorted(loaded.signatures)}); export one with the model's forward pass.")
    sig = loaded.signatures[signature]
    specs = sig.structured_input_signature[1]
    if len(specs) != 1:
        raise ModelError(f"SavedModel signature {signature!r} takes {len(specs)} inputs; a teacher takes one.")
    (arg, spec), = specs.items()
    outs = sig.structured_outputs
    if len(outs) != 1:
        raise ModelError(f"SavedModel signature {signature!r} gives {len(outs)} outputs {sorted(outs)}; a teacher "
                         "gives one output of class scores.")
    (out_key,) = outs
    shape = tuple(spec.shape[1:])
    if any(d is None for d in shape):
        raise ModelError(f"SavedModel signature {signature!r} takes shape {spec.shape}; a teacher needs a fixed "
                         "input shape.")

    def fn(x):
        return sig(**{arg: tf.cast(x, spec.dtype)})[out_key]

    variables = [v.numpy() for v in loaded.variables] if hasattr(loaded, "variables") else []
    digest = hashlib.sha256(b"".join(v.tobytes() for v in variables) or os.fspath(path).encode()).hexdigest()[:16]
    model = _wrap(fn, lambda x: fn(tf.constant(x)).numpy(), shape, "saved_model", os.fspath(path), digest,
                  int(sum(v.size for v in variables)), "saved_model_black_box")
    model._tfcompress_keepalive = (loaded,)  # the signature's variables live as long as the teacher
    return model


def from_tflite(path):
    """A black-box teacher running a ``.tflite`` file in the LiteRT interpreter (float or int8 I/O)."""
    from tfcompress.export import inspect_tflite, predict_tflite

    with open(os.fspath(path), "rb") as f:
        flat = f.read()
    info = inspect_tflite(flat)
    inputs = info["inputs"]
    if len(inputs) != 1 or len(info["outputs"]) != 1:
        raise ModelError(f"the .tflite teacher {os.fspath(path)!r} has {len(inputs)} inputs and "
                         f"{len(info['outputs'])} outputs; a teacher has one input and one output of class scores.")
    shape = tuple(int(d) for d in inputs[0]["shape"][1:])

    def run(x):
        return predict_tflite(flat, np.asarray(x, dtype="float32")).astype("float32")

    def fn(x):
        return tf.numpy_function(run, [x], tf.float32, stateful=False)

    model = _wrap(fn, run, shape, "tflite", os.fspath(path), hashlib.sha256(flat).hexdigest()[:16],
                  info.get("params"), os.path.splitext(os.path.basename(os.fspath(path)))[0] + "_black_box")
    model.black_box["flat"] = flat
    return model


__all__ = ["TeacherOutputs", "is_black_box", "from_keras3", "from_saved_model", "from_tflite", "KINDS"]
