"""Teachers a user brings: keras.applications MobileNetV2 and a functional ResNet, trained in Keras 3.

``benchmarks/real_models.py`` (and the experiments behind the defaults) use these. Each teacher is built with
Keras 3 (the standalone ``keras`` package, installed beside tf_keras), trained on the labels with Adam and a
cosine schedule, and saved as a Keras 3 ``.keras`` file, which tfcompress reads through its Keras 3 bridge.
``weights=None``: nothing is downloaded. keras.applications sets BatchNorm momentum 0.999, which leaves the
moving statistics near their initial values after a few hundred steps (evaluation collapses to chance), so
the momentum is set to 0.9 before training, as a user who noticed would.

Usage (a cache of trained teachers in --workdir):
    python benchmarks/keras3_teachers.py --task shapes32 --teacher mobilenet_v2_035
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfcompress  # noqa: E402,F401  (selects tf_keras for TensorFlow; Keras 3 stays importable as `keras`)

#: teacher name -> (builder, epochs, peak learning rate)
TEACHERS = {
    "mobilenet_v2_035": ("mobilenet_v2", 0.35, 30, 3e-3),
    "mobilenet_v2_100": ("mobilenet_v2", 1.0, 30, 2e-3),
    "resnet": ("resnet", None, 30, 3e-3),
}


def task_data(task, seed=0):
    """The data of a task: ``shapes32``, ``shapes96`` (generated shapes and textures) or ``digits32``."""
    if task == "shapes32":
        return tfcompress.make_shapes_data(n_samples=6000, image_size=32, seed=seed)
    if task == "shapes96":
        return tfcompress.make_shapes_data(n_samples=3000, image_size=96, seed=seed)
    if task == "digits32":
        return tfcompress.load_digits_data(image_size=32, channels=3, seed=seed)
    raise ValueError(f"unknown task {task!r}; tasks: shapes32, shapes96, digits32")


def _keras3_resnet(keras3, input_shape, classes):
    """A small functional ResNet (3 stages of 2 basic blocks, identity and projection shortcuts), logits out."""
    layers = keras3.layers
    inputs = keras3.Input(input_shape)
    x = layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))
    for stage, width in enumerate((32, 64, 128)):
        for block in range(2):
            stride = 2 if (block == 0 and stage > 0) else 1
            h = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)(x)
            h = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(h))
            h = layers.Conv2D(width, 3, padding="same", use_bias=False)(h)
            h = layers.BatchNormalization(momentum=0.9)(h)
            shortcut = x
            if stride != 1 or x.shape[-1] != width:
                shortcut = layers.BatchNormalization(momentum=0.9)(
                    layers.Conv2D(width, 1, strides=stride, use_bias=False)(x))
            x = layers.ReLU()(layers.Add()([h, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras3.Model(inputs, layers.Dense(classes)(x), name="resnet_teacher")


def build_teacher(name, input_shape, classes):
    """A Keras 3 teacher model (untrained)."""
    import keras as keras3

    kind, alpha, _, _ = TEACHERS[name]
    if kind == "resnet":
        return _keras3_resnet(keras3, input_shape, classes)
    model = keras3.applications.MobileNetV2(input_shape=input_shape, alpha=alpha, weights=None, classes=classes,
                                            classifier_activation="softmax")
    for layer in model.layers:
        if isinstance(layer, keras3.layers.BatchNormalization):
            layer.momentum = 0.9
    return model


def train_teacher(name, task, workdir, seed=0, log=print):
    """Train (or read back from ``workdir``) a Keras 3 teacher; return ``(path, test accuracy, seconds)``."""
    import time

    import keras as keras3
    import numpy as np

    path = os.path.join(workdir, f"{task}_{name}_s{seed}.keras")
    data = task_data(task)
    if os.path.exists(path):
        model = keras3.models.load_model(path)
    else:
        keras3.utils.set_random_seed(seed)
        model = build_teacher(name, data["x_train"].shape[1:], int(data["y_train"].max()) + 1)
        _, _, epochs, lr = TEACHERS[name]
        steps = epochs * int(np.ceil(len(data["x_train"]) / 64))
        schedule = keras3.optimizers.schedules.CosineDecay(lr, steps)
        softmax = model.layers[-1].get_config().get("activation") == "softmax"
        model.compile(keras3.optimizers.Adam(schedule), keras3.losses.SparseCategoricalCrossentropy(
            from_logits=not softmax), metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(data["x_train"], data["y_train"], batch_size=64, epochs=epochs, verbose=0,
                  validation_data=(data["x_val"], data["y_val"]))
        log(f"trained {name} on {task} in {time.perf_counter() - start:.0f} s")
        os.makedirs(workdir, exist_ok=True)
        model.save(path)
    accuracy = float(np.mean(np.argmax(model.predict(data["x_test"], verbose=0), -1) == data["y_test"]))
    return path, accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="shapes32")
    parser.add_argument("--teacher", default="mobilenet_v2_035", choices=sorted(TEACHERS))
    parser.add_argument("--workdir", default=os.path.join(os.path.expanduser("~"), ".cache", "tfcompress-bench"))
    args = parser.parse_args(argv)
    path, accuracy = train_teacher(args.teacher, args.task, args.workdir)
    print(f"{path}: test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
