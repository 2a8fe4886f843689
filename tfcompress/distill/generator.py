"""Generators of synthetic inputs for data-free distillation, and what they are trained for.

A generator maps a latent vector ``z ~ N(0, I)`` to one input of the teacher.
For images it follows DAFL's generator (Chen et al., ICCV'19): a dense layer
to a small feature map, then ``(upsample, conv, BatchNorm, LeakyReLU)``
blocks up to the input size, a last conv to the input channels and a bounded
activation scaled to the data range.  For vectors it is a small MLP.

``GeneratorObjective`` measures generated inputs on the frozen teacher: the
DAFL terms (confidence, activation, class balance) and DeepInversion's
BatchNorm-statistics term.
"""

from tfcompress._compat import is_graph_network
from tfcompress._keras import keras, tf
from tfcompress.distill.checks import to_logits
from tfcompress.errors import ConfigError, ModelError


def check_input_range(input_range):
    """Return ``(low, high)`` floats, or None (unbounded, standardised outputs); raise ConfigError otherwise."""
    if input_range is None:
        return None
    try:
        low, high = (float(v) for v in input_range)
    except (TypeError, ValueError):
        raise ConfigError(f"input_range must be a pair (low, high) or None, received {input_range!r}; "
                          "e.g. (0, 1) for images scaled to [0, 1], None for standardised features.") from None
    if not high > low:
        raise ConfigError(f"input_range must have low < high, received {input_range!r}.")
    return low, high


def _num_upsamples(height, width, max_upsamples=3):
    """How many 2x upsamplings reach ``height x width`` from a map of at least 2x2."""
    n = 0
    while n < max_upsamples and height % 2 == 0 and width % 2 == 0 and height // 2 >= 2 and width // 2 >= 2:
        height, width, n = height // 2, width // 2, n + 1
    return n


def _to_range(x, input_range, name):
    if input_range is None:  # zero mean, unit variance per feature, like standardised data (DAFL's output BN)
        return keras.layers.BatchNormalization(center=False, scale=False, name=f"{name}_out_bn")(x)
    low, high = input_range
    x = keras.layers.Activation("sigmoid", name=f"{name}_sigmoid")(x)
    return keras.layers.Rescaling(high - low, offset=low, name=f"{name}_range")(x)


def build_generator(output_shape, latent_dim=64, filters=64, input_range=(0.0, 1.0), name="generator"):
    """A DAFL-style generator ``z -> x`` whose outputs have the teacher's input shape.

    Example:
        >>> g = build_generator((8, 8, 1), latent_dim=16, filters=8)
        >>> tuple(g.output_shape)
        (None, 8, 8, 1)

    Args:
        output_shape: shape of one generated input: ``(H, W, C)`` images or ``(D,)`` vectors.
        latent_dim: size of the latent vector. Defaults to 64.
        filters: width of the first feature map (images; halved at each upsampling, at least 8) or of the
            hidden layers (vectors). Defaults to 64.
        input_range: ``(low, high)`` of the data the teacher was trained on; outputs are a sigmoid scaled to
            it. None gives unbounded outputs standardised per feature (for standardised data). Defaults to (0, 1).
        name: model name. Defaults to "generator".

    Returns:
        A functional ``tf_keras`` model taking ``[batch, latent_dim]``.

    Raises:
        ConfigError: for shapes other than rank 1 or 3, or a bad ``input_range``.
    """
    output_shape = tuple(int(d) for d in output_shape)
    input_range = check_input_range(input_range)
    if latent_dim < 1 or filters < 1:
        raise ConfigError(f"latent_dim and filters must be >= 1, received {latent_dim!r} and {filters!r}.")
    z = keras.Input(shape=(latent_dim,), name="z")
    if len(output_shape) == 3:
        height, width, channels = output_shape
        n_up = _num_upsamples(height, width)
        h0, w0 = height // 2**n_up, width // 2**n_up
        x = keras.layers.Dense(h0 * w0 * filters, name="project")(z)
        x = keras.layers.Reshape((h0, w0, filters), name="reshape")(x)
        x = keras.layers.BatchNormalization(name="bn_project")(x)
        width_now = filters
        for i in range(n_up):
            width_now = max(8, width_now // 2) if i > 0 else width_now
            x = keras.layers.UpSampling2D(2, name=f"up{i}")(x)
            x = keras.layers.Conv2D(width_now, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
            x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
        x = keras.layers.Conv2D(channels, 3, padding="same", name="to_input")(x)
    elif len(output_shape) == 1:
        x = z
        for i in range(2):
            x = keras.layers.Dense(filters, use_bias=False, name=f"dense{i}")(x)
            x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
        x = keras.layers.Dense(output_shape[0], name="to_input")(x)
    else:
        raise ConfigError(f"build_generator supports (H, W, C) images and (D,) vectors, received output_shape "
                          f"{output_shape}; pass your own generator model to DataFreeDistiller instead.")
    outputs = _to_range(x, input_range, "gen")
    return keras.Model(z, outputs, name=name)


def _feature_tensor(teacher, feature_layer):
    """The teacher's penultimate features: ``feature_layer``'s output, or the input of its last Dense/Conv."""
    if feature_layer is not None:
        try:
            return teacher.get_layer(feature_layer).output
        except ValueError:
            names = [layer.name for layer in teacher.layers]
            raise ConfigError(f"feature_layer {feature_layer!r} is not a layer of the teacher; its layers are "
                              f"{names}.") from None
    for layer in reversed(teacher.layers):
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            return layer.input
    raise ModelError(f"the teacher {teacher.name!r} has no Dense or Conv2D layer whose input could serve as its "
                     "penultimate features; name one with feature_layer=...")


class GeneratorObjective:
    """The generator's loss terms, measured on a frozen functional teacher.

    * ``one_hot_loss``: cross-entropy of the teacher's outputs against their own argmax (teacher confidence);
    * ``activation_loss``: minus the mean absolute value of the teacher's penultimate features;
    * ``entropy_loss``: ``log C`` minus the entropy of the batch-mean teacher softmax (0 when classes are
      balanced);
    * ``bn_loss``: sum over the teacher's top-level BatchNormalization layers of
      ``||batch mean - running mean||_2 + ||batch variance - running variance||_2`` of the layer's input.

    Args:
        teacher: a functional ``tf_keras`` model.
        feature_layer: layer whose output are the penultimate features; None takes the input of the last
            Dense/Conv2D layer. Defaults to None.
        batch_norm: tap the BatchNorm inputs (the BN term is 0 without it, or without such layers).
            Defaults to True.
        teacher_kind: ``"logits"`` or ``"probabilities"``. Defaults to "logits".
    """

    def __init__(self, teacher, feature_layer=None, batch_norm=True, teacher_kind="logits"):
        if not is_graph_network(teacher):
            raise ModelError(f"data-free distillation taps the teacher's inner layers, so the teacher must be a "
                             f"functional or Sequential tf_keras model with an Input; {teacher.name!r} is a "
                             f"subclassed {type(teacher).__name__}.")
        self.bn_layers = []
        bn_inputs = []
        if batch_norm:
            for layer in teacher.layers:
                if isinstance(layer, keras.layers.BatchNormalization) and len(layer.inbound_nodes) == 1:
                    self.bn_layers.append(layer)
                    bn_inputs.append(layer.input)
        self.teacher_kind = teacher_kind
        self.taps = keras.Model(teacher.inputs, [teacher.outputs[0], _feature_tensor(teacher, feature_layer)]
                                + bn_inputs, name=f"{teacher.name}_taps")

    def __call__(self, x):
        """Return ``(terms, teacher_logits)`` for generated inputs ``x``; terms are scalar tensors."""
        outputs = self.taps(x, training=False)
        t_logits, features, bn_inputs = to_logits(outputs[0], self.teacher_kind), outputs[1], outputs[2:]
        pseudo = tf.stop_gradient(tf.argmax(t_logits, axis=-1))
        one_hot = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(pseudo, t_logits, from_logits=True))
        activation = -tf.reduce_mean(tf.abs(features))
        mean_p = tf.reduce_mean(tf.nn.softmax(t_logits, axis=-1), axis=0)
        num_classes = tf.cast(tf.shape(t_logits)[-1], mean_p.dtype)
        entropy = tf.math.log(num_classes) + tf.reduce_sum(mean_p * tf.math.log(mean_p + 1e-12))
        bn = tf.constant(0.0)
        for layer, feature in zip(self.bn_layers, bn_inputs):
            mean, var = tf.nn.moments(tf.cast(feature, tf.float32), axes=list(range(len(feature.shape) - 1)))
            bn += tf.norm(mean - layer.moving_mean) + tf.norm(var - layer.moving_variance)
        terms = {"one_hot_loss": one_hot, "activation_loss": activation, "entropy_loss": entropy, "bn_loss": bn}
        return terms, t_logits


__all__ = ["build_generator", "check_input_range", "GeneratorObjective"]
