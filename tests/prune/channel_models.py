"""Small models with skip connections for the channel pruning tests (and helpers that randomise them).

Every activation maps 0 to 0 (ReLU, ReLU6, hard-swish) or only gates a tensor that is zero where it is
pruned (the SE sigmoid), so a model pruned by a plan computes what the original computes with the dropped
channels zeroed.
"""

import numpy as np

from tfcompress._keras import keras

L = keras.layers


def randomise(model, seed=1):
    """Random BatchNorm statistics and parameters (and non-zero biases), so that slicing errors show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            values = []
            for weight in layer.weights:
                name = weight.name.split("/")[-1]
                if "variance" in name:
                    values.append(rng.uniform(0.5, 1.5, weight.shape))
                elif "gamma" in name:
                    values.append(rng.uniform(0.5, 1.5, weight.shape))
                else:
                    values.append(rng.normal(0.0, 0.2, weight.shape))
            layer.set_weights([v.astype("float32") for v in values])
        elif getattr(layer, "bias", None) is not None:
            values = layer.get_weights()
            values[-1] = rng.normal(0.0, 0.1, values[-1].shape).astype("float32")
            layer.set_weights(values)
    return model


def mobilenet_v2(classifier_activation=None):
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10,
                                          classifier_activation=classifier_activation)


def mobilenet_v3_small():
    return keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), minimalistic=False, weights=None,
                                               include_preprocessing=False, classes=10, classifier_activation=None)


def resnet(input_shape=(32, 32, 3), classes=10, widths=(16, 32, 64), name="resnet"):
    """3 stages of 2 basic blocks: identity shortcuts, and 1x1 projection shortcuts where the shape changes."""
    inputs = keras.Input(input_shape)
    x = L.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem")(inputs)
    x = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(x))
    for s, width in enumerate(widths):
        for b in range(2):
            p = f"s{s}b{b}"
            stride = 2 if s > 0 and b == 0 else 1
            shortcut = x
            if stride != 1 or x.shape[-1] != width:
                shortcut = L.Conv2D(width, 1, strides=stride, use_bias=False, name=f"{p}_proj")(x)
                shortcut = L.BatchNormalization(name=f"{p}_proj_bn")(shortcut)
            h = L.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, name=f"{p}_conv1")(x)
            h = L.ReLU(name=f"{p}_relu1")(L.BatchNormalization(name=f"{p}_bn1")(h))
            h = L.Conv2D(width, 3, padding="same", use_bias=False, name=f"{p}_conv2")(h)
            h = L.BatchNormalization(name=f"{p}_bn2")(h)
            x = L.ReLU(name=f"{p}_out")(L.Add(name=f"{p}_add")([shortcut, h]))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, L.Dense(classes, name="logits")(x), name=name)


def se_model(input_shape=(16, 16, 3), classes=4):
    """Conv -> squeeze-excite (GAP keepdims -> 1x1 ReLU -> 1x1 sigmoid -> Multiply) -> conv -> head."""
    inputs = keras.Input(input_shape)
    f = L.Conv2D(16, 3, padding="same", name="feat")(inputs)
    f = L.ReLU(name="feat_relu")(L.BatchNormalization(name="feat_bn")(f))
    s = L.GlobalAveragePooling2D(keepdims=True, name="se_pool")(f)
    s = L.Conv2D(4, 1, activation="relu", name="se_reduce")(s)
    s = L.Conv2D(16, 1, activation="sigmoid", name="se_expand")(s)
    g = L.Multiply(name="se_gate")([f, s])
    h = L.Conv2D(12, 3, padding="same", activation="relu", name="after")(g)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(inputs, L.Dense(classes, name="logits")(h), name="se")


def dense_concat(input_shape=(16, 16, 3), classes=4):
    """DenseNet-style: each conv's output is concatenated to what came before; BN after a concatenation."""
    inputs = keras.Input(input_shape)
    a = L.ReLU(name="c0_relu")(L.BatchNormalization(name="c0_bn")(L.Conv2D(8, 3, padding="same", name="c0")(inputs)))
    b = L.ReLU(name="c1_relu")(L.BatchNormalization(name="c1_bn")(L.Conv2D(6, 3, padding="same", name="c1")(a)))
    cat1 = L.Concatenate(name="cat1")([a, b])
    c = L.ReLU(name="cat_relu")(L.BatchNormalization(name="cat_bn")(cat1))
    d = L.Conv2D(6, 3, padding="same", activation="relu", name="c2")(c)
    cat2 = L.Concatenate(name="cat2")([cat1, d])
    t = L.AveragePooling2D(name="pool")(L.Conv2D(10, 1, activation="relu", name="transition")(cat2))
    return keras.Model(inputs, L.Dense(classes, name="logits")(L.GlobalAveragePooling2D(name="gap")(t)),
                       name="dense_concat")


def depthwise_multiplier(input_shape=(8, 8, 3), classes=4):
    """DepthwiseConv2D and SeparableConv2D with depth_multiplier 2, then Flatten -> Dense."""
    inputs = keras.Input(input_shape)
    x = L.ReLU(name="c0_relu")(L.BatchNormalization(name="c0_bn")(L.Conv2D(8, 3, padding="same", name="c0")(inputs)))
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = L.ReLU(name="dw_relu")(L.BatchNormalization(name="dw_bn")(x))
    x = L.SeparableConv2D(12, 3, depth_multiplier=2, padding="same", activation="relu", name="sep")(x)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Dense(6, activation="relu", name="fc")(L.Flatten(name="flat")(x))
    return keras.Model(inputs, L.Dense(classes, name="logits")(x), name="depthwise")


def sequential_cnn(input_shape=(8, 8, 1), classes=4):
    return keras.Sequential([
        keras.Input(input_shape), L.Conv2D(8, 3, padding="same", name="conv0"), L.BatchNormalization(name="bn0"),
        L.ReLU(), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw"),
        L.BatchNormalization(name="bn_dw"), L.MaxPooling2D(), L.Conv2D(12, 3, name="conv1"), L.Flatten(),
        L.Dense(10, activation="relu", name="dense"), L.Dropout(0.2), L.Dense(classes, name="logits")],
        name="sequential")


def mlp(input_shape=(12,), classes=3):
    inputs = keras.Input(input_shape)
    x = L.Dense(10, name="dense0")(inputs)
    x = L.PReLU(alpha_initializer=keras.initializers.Constant(0.3), name="prelu")(x)
    x = L.Dense(8, activation="relu", name="dense1")(L.BatchNormalization(name="bn")(x))
    return keras.Model(inputs, L.Dense(classes, name="logits")(x), name="mlp")


def random_plan(graph, seed=0, share=0.5):
    """A PruningPlan keeping a random ``share`` of every prunable group (at least one channel)."""
    from tfcompress.prune import PruningPlan

    rng = np.random.default_rng(seed)
    keep = {g.name: rng.choice(g.size, max(1, int(round(share * g.size))), replace=False) for g in graph.prunable()}
    return PruningPlan(keep, {g.name: g.size for g in graph.groups.values()})


def inputs_for(model, n=8, seed=0):
    shape = (n,) + tuple(model.input_shape[1:])
    return np.random.default_rng(seed).normal(size=shape).astype("float32")
