"""Recipe stages for quantization and clustering.

Recipe keys and methods:

* ``quantize: {method: qat}`` (default): TFMOT quantization-aware training.
* ``quantize: {method: pqat}``: prune-preserving QAT (run after ``prune``): zeros stay zero.
* ``quantize: {method: cqat}``: cluster-preserving QAT (run after ``cluster``): each kernel keeps its
  clustered values.
* ``quantize: {method: ptq}``: no training; the model is returned unchanged and the report says that the
  export should be int8 post-training quantization (with a representative dataset).
* ``cluster: {number_of_clusters: 16, init: kmeans++, ...}``: TFMOT weight clustering, stripped.

Collaborative QAT is chosen by *method* (``pqat``/``cqat``) rather than by an option of ``qat``, so that a
recipe line says in one word what it does and each method has its own registered class.
"""

from tfcompress.distill import defaults as distill_defaults
from tfcompress.quantize.cluster import CENTROID_INITS, cluster_model, count_clustered_layers, strip_clustering
from tfcompress.quantize.qat import count_quantized_layers, quantize_aware_model, strip_cluster_preserve
from tfcompress.quantize.stats import max_unique_per_channel, overall_sparsity, unique_weight_counts
from tfcompress.stage import Stage, check_choice, check_flag, check_names, check_number, register_stage


def int8_val_accuracy(model, data):
    """Validation accuracy of ``model`` converted to an int8 ``.tflite`` (calibrated like the export stage)."""
    from tfcompress.data import calibration_inputs
    from tfcompress.datasets import as_source
    from tfcompress.export import convert

    source = as_source(data)
    tflite = convert(model, "int8", representative_data=calibration_inputs(source))
    return source.split("val").tflite_accuracy(tflite)


@register_stage
class QuantizeAwareTraining(Stage):
    """Quantization-aware training (TFMOT) and fine-tuning with the trainer.

    The returned model carries TFMOT's fake-quant wrappers; the converter turns it into a
    full-int8 ``.tflite``.  Inside a ``Distiller`` (a trainer with a teacher) the QAT model is
    the student.

    Args:
        epochs: fine-tuning epochs of the QAT model. Defaults to 2.
        learning_rate: peak learning rate; None uses the trainer's. Defaults to None.
        skip_layers: names of layers left unquantized (float). Defaults to None.
        ptq_fallback: measure the int8 validation accuracy of the model before QAT (post-training
            quantization) and after it, and return the model before QAT when QAT scored lower, so that the
            export quantizes it post-training. On a small MLP (benchmarks/anchors.py --task tabular) QAT lost
            1-4 points to post-training int8, likely because TFMOT's default scheme quantizes Dense kernels
            with one scale per tensor where the converter uses one per output channel. Costs two int8
            conversions. Defaults to True.
        max_seconds: time for the QAT fine-tuning; fewer epochs are planned when the first one shows that
            ``epochs`` would not fit (``Trainer.fit``). None for no limit. Defaults to None.
        alpha_when_ahead: with a teacher, the hard-label weight when the model already matches or beats the
            teacher on validation (``Trainer.guidance_alpha``; at 1 the teacher is not run); None for the
            trainer's. Defaults to 1.0.
    """

    name = "quantize"
    method = "qat"
    default_method = True
    _preserve = None

    def __init__(self, epochs=2, learning_rate=None, skip_layers=None, ptq_fallback=True, max_seconds=None,
                 alpha_when_ahead=1.0):
        check_number(self, "epochs", epochs, 0, integer=True)
        check_number(self, "learning_rate", learning_rate, 0, low_open=True, none="the trainer's")
        check_names(self, "skip_layers", skip_layers)
        check_flag(self, "ptq_fallback", ptq_fallback)
        check_number(self, "max_seconds", max_seconds, low=0, low_open=True, none="no limit")
        check_number(self, "alpha_when_ahead", alpha_when_ahead, low=0, high=1, none="the trainer's")
        self.max_seconds = max_seconds
        self.alpha_when_ahead = alpha_when_ahead
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.skip_layers = skip_layers
        self.ptq_fallback = ptq_fallback

    def apply(self, model, trainer):
        ptq_val = int8_val_accuracy(model, trainer.source) if self.ptq_fallback else None
        base_alpha = (trainer.distill_options or {}).get("alpha", distill_defaults.ALPHA)
        alpha, _, _ = trainer.guidance_alpha(model, base_alpha, self.alpha_when_ahead) \
            if getattr(trainer, "teacher", None) is not None else (None, None, None)
        qat = quantize_aware_model(model, skip_layers=self.skip_layers, preserve=self._preserve)
        history = trainer.fit(qat, self.epochs, learning_rate=self.learning_rate, max_seconds=self.max_seconds,
                              alpha=alpha)
        if self._preserve == "clusters":
            qat = strip_cluster_preserve(qat)
        qat_val = int8_val_accuracy(qat, trainer.source) if self.ptq_fallback else None
        kept = "ptq" if ptq_val is not None and qat_val < ptq_val else "qat"
        out = model if kept == "ptq" else qat
        self._report = {
            "stage": self.name,
            "method": self.method,
            "epochs": self.epochs,
            "quantized_layers": count_quantized_layers(qat),
            "skipped_layers": list(self.skip_layers or []),
            "final_loss": float(history["loss"][-1]) if history.get("loss") else None,
            "val_accuracy": trainer.evaluate(out),  # of the returned model
            "export": "int8",
            "int8_val_accuracy_ptq": ptq_val,
            "int8_val_accuracy_qat": qat_val,
            "kept": kept,
            "alpha": alpha,
        }
        self._report.update(self._preservation(model, qat))
        return out

    def _preservation(self, before, after):
        return {}


@register_stage
class PrunePreservingQAT(QuantizeAwareTraining):
    """Prune-preserving QAT (TFMOT ``Default8BitPrunePreserveQuantizeScheme``): zeros stay zero.

    Give it a pruned model with the pruning wrappers stripped.  Same arguments as ``QuantizeAwareTraining``.
    """

    method = "pqat"
    default_method = False
    _preserve = "sparsity"

    def _preservation(self, before, after):
        return {"sparsity_before": overall_sparsity(before), "sparsity_after": overall_sparsity(after)}


@register_stage
class ClusterPreservingQAT(QuantizeAwareTraining):
    """Cluster-preserving QAT (TFMOT ``Default8BitClusterPreserveQuantizeScheme``).

    Give it a clustered model with the clustering wrappers stripped; each Dense kernel keeps its
    distinct values, each Conv2D kernel keeps them per output channel (TFMOT clusters convolutions per
    channel in CQAT, so a conv kernel may hold up to clusters x channels values afterwards), and zeros
    stay zero when the model was also pruned.  CQAT's training variables are
    stripped before the model is returned.  Same arguments as ``QuantizeAwareTraining``.
    """

    method = "cqat"
    default_method = False
    _preserve = "clusters"

    def _preservation(self, before, after):
        return {"unique_values_before": unique_weight_counts(before),
                "unique_values_after": unique_weight_counts(after),
                "max_unique_per_channel_after": max_unique_per_channel(after)}


@register_stage
class PostTrainingQuantization(Stage):
    """Post-training int8 quantization: nothing to train, so the model is returned unchanged.

    The report records ``export: int8`` with ``quantization: post-training``, so the export stage
    quantizes with a representative dataset.
    """

    name = "quantize"
    method = "ptq"
    default_method = False
    needs_training_data = False

    def __init__(self):
        pass

    def apply(self, model, trainer):
        self._report = {"stage": self.name, "method": self.method, "export": "int8",
                        "quantization": "post-training"}
        return model


def _kernel_layer_names(model):
    return [layer.name for layer in model.layers
            if any(w.name.split("/")[-1].split(":")[0].endswith("kernel") for w in layer.weights)]


@register_stage
class WeightClustering(Stage):
    """Weight clustering (TFMOT), fine-tuned with the trainer, wrappers stripped.

    Args:
        number_of_clusters: distinct values per kernel (>= 2; >= 3 with preserve_sparsity). Defaults to 16.
        init: centroid initialisation: ``"linear"``, ``"kmeans++"``, ``"density-based"`` or ``"random"``.
            Defaults to "kmeans++".
        epochs: fine-tuning epochs. Defaults to 2.
        learning_rate: peak learning rate; None uses the trainer's. Defaults to None.
        skip_layers: names of layers left unclustered. Defaults to None.
        skip_first: leave the first layer with a kernel (usually the first conv) unclustered. Defaults to False.
        skip_last: leave the last layer with a kernel (usually the classifier) unclustered. Defaults to False.
        preserve_sparsity: keep the zeros of a pruned model. Defaults to False.
    """

    name = "cluster"
    reduces_size = True
    method = "kmeans"
    default_method = True

    def __init__(self, number_of_clusters=16, init="kmeans++", epochs=2, learning_rate=None, skip_layers=None,
                 skip_first=False, skip_last=False, preserve_sparsity=False):
        check_number(self, "number_of_clusters", number_of_clusters, 2, integer=True)
        check_choice(self, "init", init, tuple(CENTROID_INITS))
        check_number(self, "epochs", epochs, 0, integer=True)
        check_number(self, "learning_rate", learning_rate, 0, low_open=True, none="the trainer's")
        check_names(self, "skip_layers", skip_layers)
        check_flag(self, "skip_first", skip_first)
        check_flag(self, "skip_last", skip_last)
        check_flag(self, "preserve_sparsity", preserve_sparsity)
        if preserve_sparsity:  # one centroid is pinned at zero (cluster_model's rule)
            check_number(self, "number_of_clusters", number_of_clusters, 3, integer=True,
                         what="an integer >= 3 with preserve_sparsity (one centroid is pinned at zero)")
        self.number_of_clusters = number_of_clusters
        self.init = init
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.skip_layers = skip_layers
        self.skip_first = skip_first
        self.skip_last = skip_last
        self.preserve_sparsity = preserve_sparsity

    def layers_to_skip(self, model):
        """Names of the layers of ``model`` that this stage leaves unclustered."""
        skip = list(self.skip_layers or [])
        kernel_layers = _kernel_layer_names(model)
        if kernel_layers and self.skip_first:
            skip.append(kernel_layers[0])
        if kernel_layers and self.skip_last:
            skip.append(kernel_layers[-1])
        return sorted(set(skip))

    def apply(self, model, trainer):
        skip = self.layers_to_skip(model)
        clustered = cluster_model(model, self.number_of_clusters, init=self.init, skip_layers=skip,
                                  preserve_sparsity=self.preserve_sparsity)
        wrapped = count_clustered_layers(clustered)
        history = trainer.fit(clustered, self.epochs, learning_rate=self.learning_rate)
        stripped = strip_clustering(clustered)
        self._report = {
            "stage": self.name,
            "method": self.method,
            "number_of_clusters": self.number_of_clusters,
            "init": self.init,
            "epochs": self.epochs,
            "clustered_layers": wrapped,
            "skipped_layers": skip,
            "unique_values": unique_weight_counts(stripped),
            "final_loss": float(history["loss"][-1]) if history.get("loss") else None,
            "val_accuracy": trainer.evaluate(stripped),
        }
        return stripped


__all__ = ["QuantizeAwareTraining", "PrunePreservingQAT", "ClusterPreservingQAT", "PostTrainingQuantization",
           "WeightClustering"]
