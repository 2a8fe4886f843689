"""Channel (filter) pruning that rebuilds a physically smaller dense model.

Zeroed weights only shrink a model once a sparse format or compressor sees
them; removing whole Conv2D filters and Dense units shrinks every tensor, so
the converted file is smaller and inference does less work.  ``prune_channels``
ranks the output channels of each Conv/Dense layer (L1 or L2 norm of the
filter, or |gamma| of the BatchNorm that follows), keeps the top share, and
builds a new ``tf_keras`` functional model in which:

* the following layers take only the kept channels: BatchNorm parameters and
  statistics are sliced, the next Conv/Dense kernel loses the matching input
  rows (through Flatten, which repeats each channel once per position, too);
* DepthwiseConv2D follows its input (its channels are its input's channels);
* SeparableConv2D: the depthwise part follows the input, the pointwise filters
  are ranked and pruned like a Conv2D's;
* the final Conv/Dense layer (the classifier) keeps all its outputs, so the
  model's output shape does not change.

Straight-line models only (each layer feeds exactly the next); a layer with
several inputs (Add, Concatenate) or an output used twice raises ModelError.
"""

import math

import numpy as np

from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.prune.select import copy_model
from tfcompress.prune.summary import sparsity_summary
from tfcompress.stage import Stage, check_choice, check_layer_map, check_names, check_number, register_stage

L = keras.layers
CRITERIA = ("l1", "l2", "bn_gamma")
_KEEP_RATIO = "a number in (0, 1] (the share of channels kept)"
_PRODUCERS = (L.Conv1D, L.Conv2D, L.Dense, L.SeparableConv2D)
_PASSTHROUGH = (L.ReLU, L.Activation, L.LeakyReLU, L.ELU, L.PReLU, L.Softmax, L.Dropout, L.SpatialDropout1D,
                L.SpatialDropout2D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization,
                L.MaxPooling1D, L.MaxPooling2D, L.AveragePooling1D, L.AveragePooling2D, L.GlobalAveragePooling1D,
                L.GlobalAveragePooling2D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.ZeroPadding1D,
                L.ZeroPadding2D, L.Cropping1D, L.Cropping2D, L.UpSampling1D, L.UpSampling2D)
_SUPPORTED = _PRODUCERS + (L.DepthwiseConv2D, L.BatchNormalization, L.Flatten) + _PASSTHROUGH


def layer_chain(model):
    """The layers of a straight-line model in order, from the one after the input to the output.

    Raises:
        ModelError: the model branches, merges, shares a layer, or holds an unsupported layer
            (the message names the layer).
    """
    if not isinstance(model, keras.Model):
        raise ModelError(f"expected a tf_keras Model; received {type(model).__name__}.")
    if isinstance(model, keras.Sequential):
        return _check_types(list(model.layers), model)
    if not getattr(model, "_is_graph_network", False):
        raise ModelError(f"model {model.name!r} is subclassed; channel pruning needs a functional or Sequential model.")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                         "channel pruning supports one input and one output.")
    config = model.get_config()
    consumers, by_name, first = {}, {}, None  # consumers: layer name -> names of the layers it feeds
    for entry in config["layers"]:
        name, nodes = entry["name"], entry["inbound_nodes"]
        by_name[name] = model.get_layer(name)
        if entry["class_name"] == "InputLayer":
            first = name
            continue
        if len(nodes) != 1:
            raise ModelError(f"layer {name!r} is used {len(nodes)} times (a shared layer); channel pruning supports "
                             "only straight-line models where each layer is called once.")
        node = nodes[0]
        if len(node) != 1 or any(_has_tensor(arg) for arg in node[0][3:]):
            raise ModelError(f"layer {name!r} ({entry['class_name']}) takes {len(node)} inputs; channel pruning "
                             "supports only straight-line models (no Add/Concatenate/multi-input layers). Prune "
                             "this model with method 'magnitude' or 'gradient' instead.")
        consumers.setdefault(node[0][0], []).append(name)
    for source, users in consumers.items():
        if len(users) > 1:
            raise ModelError(f"the output of layer {source!r} feeds {len(users)} layers ({', '.join(users)}); "
                             "channel pruning supports only straight-line models without branches.")
    chain, name = [], first
    while name in consumers:
        name = consumers[name][0]
        chain.append(by_name[name])
    return _check_types(chain, model)


def prune_channels(model, keep_ratio=0.5, criterion="l1", layer_ratios=None, exclude=(), min_channels=1,
                   divisor=1):
    """A new, physically smaller model keeping the most important channels of each Conv/Dense layer.

    Args:
        model: a built, straight-line functional or Sequential ``tf_keras`` model (left unchanged).
        keep_ratio: share of output channels kept in each prunable layer, in (0, 1]. Defaults to 0.5.
        criterion: ``"l1"`` or ``"l2"`` (norm of each filter), or ``"bn_gamma"`` (|gamma| of the
            BatchNorm right after the layer; L1 where there is none). Defaults to "l1".
        layer_ratios: dict layer name -> keep ratio overriding ``keep_ratio``. Defaults to None.
        exclude: names of layers whose outputs are all kept. The last Conv/Dense layer always keeps
            all its outputs. Defaults to ().
        min_channels: fewest channels any layer keeps. Defaults to 1.
        divisor: kept counts are rounded up to a multiple of this (e.g. 4 or 8 for SIMD). Defaults to 1.

    Returns:
        A new ``tf_keras`` functional model with the same input and output shapes.

    Raises:
        ConfigError: bad ratio, criterion or layer name. ModelError: unsupported topology or layer.
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"criterion must be one of {', '.join(CRITERIA)}; received {criterion!r}.")
    _check_ratio(keep_ratio, "keep_ratio")
    layer_ratios = dict(layer_ratios or {})
    exclude = [exclude] if isinstance(exclude, str) else list(exclude or ())
    chain = layer_chain(model)
    names = [layer.name for layer in chain]
    for name in list(layer_ratios) + exclude:
        if name not in names:
            raise ConfigError(f"no layer named {name!r} in model {model.name!r}; layers: {', '.join(names)}.")
    for name, ratio in layer_ratios.items():
        _check_ratio(ratio, f"layer_ratios[{name!r}]")
    producers = [layer for layer in chain if isinstance(layer, _PRODUCERS)]
    if not producers:
        return copy_model(model)
    fixed = set(exclude) | {producers[-1].name}

    x = inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype,
                             name=model.inputs[0].name.split(":")[0])
    keep = np.arange(model.input_shape[-1])
    for pos, layer in enumerate(chain):
        config, weights = layer.get_config(), layer.get_weights()
        new_weights = weights
        if isinstance(layer, L.DepthwiseConv2D):
            mult = weights[0].shape[-1]
            new_weights = [weights[0][:, :, keep, :]]
            keep = (keep[:, None] * mult + np.arange(mult)[None, :]).ravel()
            new_weights += [w[keep] for w in weights[1:]]
        elif isinstance(layer, _PRODUCERS):
            if getattr(layer, "groups", 1) != 1:
                raise ModelError(f"layer {layer.name!r} is a grouped convolution (groups={layer.groups}); "
                                 "channel pruning does not support it.")
            if isinstance(layer, L.SeparableConv2D):
                mult = weights[0].shape[-1]
                depthwise = weights[0][:, :, keep, :]
                mid = (keep[:, None] * mult + np.arange(mult)[None, :]).ravel()
                kernel, head = weights[1][:, :, mid, :], [depthwise]
            else:
                kernel, head = weights[0][..., keep, :], []
            n_out = kernel.shape[-1]
            if layer.name in fixed:
                keep = np.arange(n_out)
            else:
                ratio = layer_ratios.get(layer.name, keep_ratio)
                scores = _scores(kernel, chain[pos + 1] if pos + 1 < len(chain) else None, criterion)
                keep = _top(scores, _count(n_out, ratio, min_channels, divisor))
            new_weights = head + [kernel[..., keep]] + [w[keep] for w in weights[len(head) + 1:]]
            config["units" if isinstance(layer, L.Dense) else "filters"] = int(len(keep))
        elif isinstance(layer, L.BatchNormalization):
            axes = config["axis"] if isinstance(config["axis"], (list, tuple)) else [config["axis"]]
            if len(axes) != 1 or axes[0] not in (-1, len(layer.input_shape) - 1):
                raise ModelError(f"BatchNormalization {layer.name!r} normalises axis {config['axis']}; channel "
                                 "pruning supports only the last (channels) axis.")
            new_weights = [w[keep] for w in weights]
        elif isinstance(layer, L.Flatten):
            shape = layer.input_shape
            positions = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
            keep = (np.arange(positions)[:, None] * shape[-1] + keep[None, :]).ravel()
        new_layer = type(layer).from_config(config)
        x = new_layer(x)
        if new_weights:
            new_layer.set_weights(new_weights)
    return keras.Model(inputs, x, name=model.name)


def channel_counts(model):
    """dict layer name -> output channels of each Conv/Dense/DepthwiseConv layer of a straight-line model."""
    return {layer.name: int(layer.output_shape[-1]) for layer in layer_chain(model)
            if isinstance(layer, _PRODUCERS + (L.DepthwiseConv2D,))}


def _scores(kernel, following, criterion):
    flat = np.abs(kernel.reshape(-1, kernel.shape[-1]))
    if criterion == "bn_gamma" and isinstance(following, L.BatchNormalization) and following.scale:
        return np.abs(following.gamma.numpy())
    if criterion == "l2":
        return np.sqrt((flat ** 2).sum(axis=0))
    return flat.sum(axis=0)


def _top(scores, count):
    return np.sort(np.argsort(-scores, kind="stable")[:count])


def _count(n, ratio, min_channels, divisor):
    count = int(math.ceil(ratio * n - 1e-9))
    count = int(math.ceil(count / divisor) * divisor)
    return int(min(n, max(min_channels, count, 1)))


def _check_ratio(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ConfigError(f"{what} must be a number in (0, 1] (the share of channels kept); received {value!r}.")


def _has_tensor(arg):
    return isinstance(arg, dict) and any(isinstance(v, list) and v and isinstance(v[0], str) for v in arg.values())


def _check_types(chain, model):
    for layer in chain:
        if not isinstance(layer, _SUPPORTED) or isinstance(layer, (L.Conv2DTranspose, L.Conv1DTranspose)):
            raise ModelError(f"layer {layer.name!r} of model {model.name!r} is a {type(layer).__name__}, which "
                             "channel pruning does not support. Supported: Conv1D, Conv2D, DepthwiseConv2D, "
                             "SeparableConv2D, Dense, BatchNormalization, Flatten, pooling, activations, dropout.")
        data_format = getattr(layer, "data_format", "channels_last")
        if data_format not in (None, "channels_last"):
            raise ModelError(f"layer {layer.name!r} uses data_format={data_format!r}; channel pruning supports "
                             "channels_last only.")
    return chain


@register_stage
class ChannelPruning(Stage):
    """Stage: remove whole filters/units and rebuild a smaller dense model (recipe ``prune: {method: channel}``).

    Args:
        keep_ratio: share of output channels kept per layer, in (0, 1]. Defaults to 0.5.
        epochs: fine-tuning epochs after the rebuild. Defaults to 2.
        criterion: ``"l1"``, ``"l2"`` or ``"bn_gamma"``. Defaults to "l1".
        layer_ratios: dict layer name -> keep ratio. Defaults to None.
        exclude: layers whose outputs are all kept (the classifier always is). Defaults to ().
        min_channels: fewest channels kept by any layer. Defaults to 1.
        divisor: kept counts rounded up to a multiple of this. Defaults to 1.
        learning_rate: fine-tuning learning rate (None for the trainer's). Defaults to None.
    """

    name = "prune"
    method = "channel"

    def __init__(self, keep_ratio=0.5, epochs=2, criterion="l1", layer_ratios=None, exclude=(), min_channels=1,
                 divisor=1, learning_rate=None):
        check_number(self, "keep_ratio", keep_ratio, 0, 1, low_open=True, what=_KEEP_RATIO)
        check_number(self, "epochs", epochs, 0, integer=True)
        check_choice(self, "criterion", criterion, CRITERIA)
        check_layer_map(self, "layer_ratios", layer_ratios, "a number in (0, 1]", low=0, high=1, low_open=True)
        check_names(self, "exclude", exclude, allow_str=True)
        check_number(self, "min_channels", min_channels, 1, integer=True)
        check_number(self, "divisor", divisor, 1, integer=True)
        check_number(self, "learning_rate", learning_rate, 0, low_open=True, none="the trainer's")
        self.keep_ratio = keep_ratio
        self.epochs = epochs
        self.criterion = criterion
        self.layer_ratios = layer_ratios
        self.exclude = exclude
        self.min_channels = min_channels
        self.divisor = divisor
        self.learning_rate = learning_rate

    def apply(self, model, trainer):
        pruned = prune_channels(model, self.keep_ratio, self.criterion, self.layer_ratios, self.exclude,
                                self.min_channels, self.divisor)
        trainer.fit(pruned, self.epochs, learning_rate=self.learning_rate)
        before, after = channel_counts(model), channel_counts(pruned)
        self._report = {"method": self.method,
                        "channels": {name: [before[name], after[name]] for name in before},
                        "params_before": int(model.count_params()), "params_after": int(pruned.count_params()),
                        "bytes_float32_after": sum(r["bytes_float32"] for r in sparsity_summary(pruned)),
                        "val_accuracy": trainer.evaluate(pruned)}
        return pruned
