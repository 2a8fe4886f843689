"""Devices of a run: a ``tf.distribute`` strategy and mixed-precision training, set up once around a whole run.

``tfcompress run recipe.yaml --strategy mirrored`` (recipe ``strategy: mirrored``, ``Pipeline(strategy=...)``)
loads the teacher, builds every model and trains every stage inside ``strategy.scope()``:

- ``mirrored``: ``tf.distribute.MirroredStrategy`` over all local GPUs (the CPU when there is none);
- ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy``, configured from the ``TF_CONFIG`` environment
  variable. Every worker runs the same command with its own ``TF_CONFIG``; only the chief (task ``chief``, else
  ``worker`` 0) writes the run's outputs, the others write to a temporary folder removed at the end (the Keras
  multi-worker guide's rule).

Batch sizes of the recipe are **per replica**: each fit runs with the global batch ``batch_size ×
strategy.num_replicas_in_sync`` (``global_batch_size``), as Keras documents. The learning rate is used as given.

``mixed_precision: true`` (``--mixed-precision``) sets the Keras global policy ``mixed_float16`` while each stage
trains and puts the previous policy back afterwards (also on an error). It needs a GPU
(``check_mixed_precision``); ``TFCOMPRESS_FORCE_MIXED_PRECISION=1`` forces it (tests).
"""

import contextlib
import json
import os
import shutil
import tempfile

from tfcompress.errors import ConfigError

#: Strategy names of ``--strategy`` and the recipe's ``strategy:`` (None: no strategy, today's behaviour).
STRATEGIES = ("mirrored", "multi_worker")
#: Setting this environment variable to 1 lets mixed precision run without a GPU (tests only: it is slow on CPU).
FORCE_MIXED_PRECISION = "TFCOMPRESS_FORCE_MIXED_PRECISION"


def check_strategy(name, source="strategy"):
    """``name`` if it is None or one of ``STRATEGIES``; else a one-line ``ConfigError``."""
    if name is None or name in STRATEGIES:
        return name
    raise ConfigError(f"{source}: unknown strategy {name!r}; valid strategies: {', '.join(STRATEGIES)} "
                      "(or none, the default).")


def read_tf_config(environ=None):
    """The checked ``TF_CONFIG`` of this worker (a dict with ``cluster`` and ``task``).

    Raises:
        ConfigError: ``TF_CONFIG`` is missing, not JSON, or its task is not in its cluster.
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG")
    hint = ('set TF_CONFIG on each worker, e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}')
    if not text:
        raise ConfigError(f"--strategy multi_worker needs the TF_CONFIG environment variable; {hint}.")
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc}); {hint}.") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG needs a 'cluster' mapping and a 'task'; {hint}.")
    if not any(k in cluster for k in ("chief", "worker")):
        raise ConfigError(f"TF_CONFIG's cluster has no 'worker' or 'chief' task; {hint}.")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) for a in addresses):
            raise ConfigError(f"TF_CONFIG's cluster[{kind!r}] must be a list of 'host:port' strings; {hint}.")
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in ("chief", "worker") or kind not in cluster or isinstance(index, bool) \
            or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ConfigError(f"TF_CONFIG's task {task!r} is not a chief or worker of its cluster "
                          f"({ {k: len(v) for k, v in cluster.items()} }); {hint}.")
    return config


def is_chief(tf_config):
    """True for the worker that writes a multi-worker run's outputs: the ``chief`` task, or ``worker`` 0 when the
    cluster has no chief (as the Keras multi-worker guide says)."""
    task, cluster = tf_config["task"], tf_config["cluster"]
    if task["type"] == "chief":
        return True
    return "chief" not in cluster and task["type"] == "worker" and task.get("index", 0) == 0


def make_strategy(name):
    """The ``tf.distribute`` strategy called ``name`` (see ``STRATEGIES``), or None for None.

    Raises:
        ConfigError: an unknown name, or ``multi_worker`` without a valid ``TF_CONFIG``.
    """
    check_strategy(name)
    if name is None:
        return None
    from tfcompress._keras import tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    read_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()


def replicas(strategy=None):
    """Replicas that train in sync under ``strategy`` (None: the strategy of the current scope, 1 outside any)."""
    if strategy is None:
        from tfcompress._keras import tf

        strategy = tf.distribute.get_strategy()
    return int(strategy.num_replicas_in_sync)


def global_batch_size(per_replica, strategy=None):
    """The batch of one training step: ``per_replica × replicas(strategy)`` (None stays None)."""
    return None if per_replica is None else int(per_replica) * replicas(strategy)


def gpu_available():
    """True when TensorFlow sees at least one GPU."""
    from tfcompress._keras import tf

    return bool(tf.config.list_physical_devices("GPU"))


def check_mixed_precision(has_gpu=None, environ=None):
    """Raise a one-line ``ConfigError`` unless mixed precision can run: a GPU, or
    ``TFCOMPRESS_FORCE_MIXED_PRECISION=1``."""
    environ = os.environ if environ is None else environ
    if environ.get(FORCE_MIXED_PRECISION) == "1":
        return
    if not (gpu_available() if has_gpu is None else has_gpu):
        raise ConfigError("mixed_float16 needs a GPU (on a CPU it is slower than float32, and TensorFlow sees no "
                          "GPU here); drop --mixed-precision / mixed_precision: true.")


@contextlib.contextmanager
def mixed_precision_policy(enabled=True):
    """Inside: Keras's global policy is ``mixed_float16`` (when ``enabled``); on exit the previous one, also on an
    error."""
    if not enabled:
        yield
        return
    from tfcompress._keras import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def float32_copy(model):
    """``model`` itself when every layer computes in float32; else the same architecture in float32 with the same
    weights (what is measured, saved and converted to ``.tflite`` after mixed-precision training)."""
    if all(_policy_name(layer) == "float32" for layer in _all_layers(model)):
        return model
    return policy_copy(model, "float32")


def policy_copy(model, policy):
    """A copy of ``model`` (same architecture and weights) whose layers use the dtype policy ``policy``.

    For ``mixed_float16`` the input and output layers stay float32 (as the Keras mixed-precision guide advises:
    float32 outputs for the losses); TFMOT wrappers are rebuilt with their inner layers.
    """
    import tensorflow_model_optimization as tfmot

    from tfcompress._keras import keras

    config = model.get_config()
    keep = _output_names(config) if policy != "float32" else set()
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with tfmot.quantization.keras.quantize_scope(), tfmot.sparsity.keras.prune_scope():
            rebuilt = model.__class__.from_config(_policy_config(config, policy, keep))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _output_names(config):
    outputs = config.get("output_layers")
    if outputs:
        return {entry[0] for entry in outputs}
    layers = config.get("layers") or []
    return {layers[-1]["config"].get("name")} if layers else set()


def _policy_config(value, policy, keep=(), kind=None):
    """A model config with every layer's dtype made ``policy`` (but InputLayers and the layers named in
    ``keep``, which stay float32)."""
    if isinstance(value, dict):
        if "class_name" in value and isinstance(value.get("config"), dict):
            kind = value["class_name"]
        out = {}
        for key, item in value.items():
            if key == "dtype" and kind != "InputLayer" and _is_layer_dtype(item):
                out[key] = "float32" if value.get("name") in keep else policy
            else:
                out[key] = _policy_config(item, policy, keep, kind)
        return out
    if isinstance(value, list):
        return [_policy_config(v, policy, keep, kind) for v in value]
    return value


def _is_layer_dtype(dtype):
    if isinstance(dtype, dict):
        return dtype.get("class_name") in ("Policy", "DTypePolicy")
    return dtype in ("float32", "mixed_float16")


def _all_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _all_layers(layer)
        inner = getattr(layer, "layer", None)  # TFMOT wrappers
        if inner is not None:
            yield inner


def _policy_name(layer):
    return getattr(getattr(layer, "dtype_policy", None), "name", "float32")


class Devices:
    """What a run trains on: the strategy (or None), its replicas and workers, whether this process writes the
    outputs, and mixed precision. ``report()`` is the report's ``devices`` entry."""

    def __init__(self, name=None, strategy=None, mixed_precision=False, chief=True, workers=1, batch_size=None):
        self.name = name
        self.strategy = strategy
        self.mixed_precision = bool(mixed_precision)
        self.chief = chief
        self.workers = workers
        self.batch_size = batch_size
        self.steps_per_epoch = []  # what each training's fit saw (StepsRecorder), for the report

    def adapt(self, trainer):
        """``trainer`` (a stage's ``Trainer``) training at the global batch, its fits' steps recorded."""
        trainer.batch_size = self.global_batch_size(trainer.batch_size)
        trainer.callbacks.append(steps_recorder(self))
        return trainer

    @property
    def replicas(self):
        return 1 if self.strategy is None else replicas(self.strategy)

    def global_batch_size(self, per_replica):
        return None if per_replica is None else int(per_replica) * self.replicas

    def scope(self):
        """``strategy.scope()``, or a no-op without a strategy."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def apply(self, stage, model, trainer):
        """``stage.apply(model, trainer)`` on these devices. With mixed precision the stage runs under the
        ``mixed_float16`` policy on a mixed copy of ``model`` (so a stage that trains its input in place trains in
        mixed precision too, and ``model`` is left as it was); its result comes back as a float32 model. Stages
        that do not train on the data (``needs_training_data`` False: export, PTQ, data-free) run in float32."""
        if not (self.mixed_precision and getattr(stage, "needs_training_data", True)):
            return stage.apply(model, trainer)
        with mixed_precision_policy():
            new = stage.apply(policy_copy(model, "mixed_float16"), trainer)
        return float32_copy(new)

    def report(self):
        return {"strategy": self.name, "replicas": self.replicas, "workers": self.workers,
                "mixed_precision": self.mixed_precision, "batch_size_per_replica": self.batch_size,
                "global_batch_size": self.global_batch_size(self.batch_size),
                "steps_per_epoch": list(self.steps_per_epoch)}


def steps_recorder(devices):
    """A Keras callback that appends each fit's steps per epoch to ``devices.steps_per_epoch``."""
    from tfcompress._keras import keras

    class StepsRecorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            devices.steps_per_epoch.append((self.params or {}).get("steps"))

    return StepsRecorder()


def check_recipe(recipe, where):
    """The recipe's ``strategy`` and ``mixed_precision`` keys (``where(key)`` is the line prefix of a message)."""
    if recipe.get("strategy") is not None:
        check_strategy(recipe["strategy"], f"{where('strategy')}strategy")
    if "mixed_precision" in recipe and not isinstance(recipe["mixed_precision"], bool):
        raise ConfigError(f"{where('mixed_precision')}mixed_precision must be true or false, received "
                          f"{recipe['mixed_precision']!r}.")


def check_devices(strategy=None, mixed_precision=False):
    """Every device check that needs no work: the strategy's name, ``TF_CONFIG`` for ``multi_worker``, a GPU for
    mixed precision. Raises a one-line ``ConfigError``."""
    check_strategy(strategy)
    if strategy == "multi_worker":
        read_tf_config()
    if mixed_precision:
        check_mixed_precision()


@contextlib.contextmanager
def run_devices(output_dir, strategy=None, mixed_precision=False, batch_size=None):
    """Around a whole run: check, make the strategy, enter its scope; yield ``(Devices, output folder)``.

    A non-chief worker of a ``multi_worker`` run gets a temporary output folder, removed when the run ends.
    """
    check_devices(strategy, mixed_precision)
    chief, workers = True, 1
    if strategy == "multi_worker":
        tf_config = read_tf_config()
        chief = is_chief(tf_config)
        workers = sum(len(v) for k, v in tf_config["cluster"].items() if k in ("chief", "worker"))
    devices = Devices(strategy, make_strategy(strategy), mixed_precision, chief=chief, workers=workers,
                      batch_size=batch_size)
    temporary = None if chief else tempfile.mkdtemp(prefix="tfcompress-worker-")
    try:
        with devices.scope():
            yield devices, (output_dir if chief else temporary)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


__all__ = ["STRATEGIES", "Devices", "check_devices", "check_recipe", "check_mixed_precision", "check_strategy",
           "float32_copy", "policy_copy", "global_batch_size", "gpu_available", "is_chief", "make_strategy",
           "mixed_precision_policy", "read_tf_config", "replicas", "run_devices", "steps_recorder"]
