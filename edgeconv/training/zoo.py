"""Model zoo: small Keras CNNs to start from, all of which compile bit-exact once quantized.

Each builder takes the input shape (without the batch), the number of classes, and width and
depth knobs; every model ends in a softmax. Batch normalization folds into the convolutions
when the converter quantizes the model.

| name | for | structure |
|---|---|---|
| tinyconv | small images | LeNet-like: conv blocks with max pooling, a dense head |
| dscnn | keyword spotting, small images | a conv, then depthwise-separable blocks, average pooling |
| resnet8 | images (MLPerf Tiny) | a conv, residual stacks with skip connections, average pooling |
| mobilenetv1 | images (VWW) | MobileNetV1 with width multiplier alpha |
| conv1d | sequences, sensor signals | Conv1D blocks with pooling, global average pooling |
"""

from __future__ import annotations

from collections.abc import Callable


def _layers():
    import tensorflow as tf

    return tf.keras, tf.keras.layers


def _ch(n: float) -> int:
    return max(1, int(round(n)))


def tinyconv(input_shape, num_classes: int, width: float = 1.0, depth: int = 2, kernel: int = 3, first_stride: int = 1):
    """`depth` conv blocks of two `kernel` x `kernel` convs (16*width filters, doubling per
    block; the very first with stride `first_stride`), each followed by 2x2 max pooling while
    the image is at least 4 wide; a dense head."""
    keras, L = _layers()
    x = keras.Input(input_shape, name="input")
    y = x
    filters = 16 * width
    for block in range(depth):
        y = L.Conv2D(
            _ch(filters), kernel, strides=first_stride if block == 0 else 1, padding="same", activation="relu"
        )(y)
        y = L.Conv2D(_ch(filters), kernel, padding="same", activation="relu")(y)
        if min(int(y.shape[1]), int(y.shape[2])) >= 4:
            y = L.MaxPooling2D(2)(y)
        filters *= 2
    y = L.Flatten()(y)
    y = L.Dropout(0.25)(y)  # training only: the converter drops it
    y = L.Dense(_ch(64 * width), activation="relu")(y)
    y = L.Dense(num_classes)(y)
    return keras.Model(x, L.Softmax()(y), name="tinyconv")


# Batch-norm momentum 0.9, not Keras' 0.99: on small data sets the moving statistics the
# model infers with must settle within a few hundred steps.
def _conv_bn_relu(L, y, filters, kernel, strides=1):
    y = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(y)
    y = L.BatchNormalization(momentum=0.9)(y)
    return L.ReLU()(y)


def _ds_block(L, y, filters, strides=1, kernel=3):
    y = L.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False)(y)
    y = L.BatchNormalization(momentum=0.9)(y)
    y = L.ReLU()(y)
    return _conv_bn_relu(L, y, filters, 1)


def dscnn(
    input_shape, num_classes: int, width: float = 1.0, depth: int = 4, kernel: int = 3, first_stride: int | None = None
):
    """DS-CNN (MLPerf Tiny KWS): a first conv (stride `first_stride`; by default 2 when the
    input is at least 16 on a side), `depth` depthwise-separable blocks of 64*width filters
    with `kernel` x `kernel` depthwise filters, average pooling."""
    keras, L = _layers()
    x = keras.Input(input_shape, name="input")
    f = _ch(64 * width)
    big = min(input_shape[0], input_shape[1]) >= 16
    stride = first_stride if first_stride is not None else (2 if big else 1)
    y = _conv_bn_relu(L, x, f, (10, 4) if input_shape[0] >= 40 else 3, strides=stride)
    for _ in range(depth):
        y = _ds_block(L, y, f, kernel=kernel)
    y = L.AveragePooling2D(pool_size=(int(y.shape[1]), int(y.shape[2])))(y)
    y = L.Flatten()(y)
    y = L.Dense(num_classes)(y)
    return keras.Model(x, L.Softmax()(y), name="dscnn")


def resnet8(input_shape, num_classes: int, width: float = 1.0, depth: int = 3):
    """ResNet-8 (MLPerf Tiny image classification): a 3x3 conv, `depth` residual stacks of
    16, 32, 64 (*width) filters, the later ones strided with a 1x1 projection on the skip."""
    keras, L = _layers()
    x = keras.Input(input_shape, name="input")
    f = _ch(16 * width)
    y = _conv_bn_relu(L, x, f, 3)
    for stack in range(depth):
        filters = _ch(16 * width * 2**stack)
        strides = 2 if stack > 0 and min(int(y.shape[1]), int(y.shape[2])) >= 4 else 1
        z = _conv_bn_relu(L, y, filters, 3, strides)
        z = L.Conv2D(filters, 3, padding="same", use_bias=False)(z)
        z = L.BatchNormalization(momentum=0.9)(z)
        if strides > 1 or int(y.shape[-1]) != filters:
            y = L.Conv2D(filters, 1, strides=strides, padding="same")(y)
        y = L.ReLU()(L.Add()([y, z]))
    y = L.AveragePooling2D(pool_size=(int(y.shape[1]), int(y.shape[2])))(y)
    y = L.Flatten()(y)
    y = L.Dense(num_classes)(y)
    return keras.Model(x, L.Softmax()(y), name="resnet8")


# MobileNetV1's depthwise-separable blocks: (filters, stride).
_MOBILENET_BLOCKS = (
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
)


def mobilenetv1(input_shape, num_classes: int, width: float = 0.25, depth: int = 13):
    """MobileNetV1 with width multiplier alpha (`width`) and the first `depth` of its 13
    depthwise-separable blocks; a block's stride 2 is kept only while the image is at least
    4 wide, so small inputs work too."""
    keras, L = _layers()
    x = keras.Input(input_shape, name="input")
    strides = 2 if min(input_shape[0], input_shape[1]) >= 32 else 1
    y = _conv_bn_relu(L, x, _ch(32 * width), 3, strides)
    for filters, s in _MOBILENET_BLOCKS[:depth]:
        s = s if min(int(y.shape[1]), int(y.shape[2])) >= 4 else 1
        y = _ds_block(L, y, _ch(filters * width), s)
    y = L.AveragePooling2D(pool_size=(int(y.shape[1]), int(y.shape[2])))(y)
    y = L.Flatten()(y)
    y = L.Dense(num_classes)(y)
    return keras.Model(x, L.Softmax()(y), name="mobilenetv1")


def conv1d(input_shape, num_classes: int, width: float = 1.0, depth: int = 3):
    """`depth` Conv1D blocks (kernel 5, 16*width doubling), max pooling between them while the
    sequence is at least 8 long, global average pooling, a dense head."""
    keras, L = _layers()
    if len(input_shape) != 2:
        raise ValueError(f"conv1d takes (length, channels) input, got {tuple(input_shape)}")
    x = keras.Input(input_shape, name="input")
    y = x
    filters = 16 * width
    for _ in range(depth):
        y = L.Conv1D(_ch(filters), 5, padding="same", activation="relu")(y)
        if int(y.shape[1]) >= 8:
            y = L.MaxPooling1D(2)(y)
        filters *= 2
    y = L.GlobalAveragePooling1D()(y)
    y = L.Dense(num_classes)(y)
    return keras.Model(x, L.Softmax()(y), name="conv1d")


ARCHITECTURES: dict[str, Callable] = {
    "tinyconv": tinyconv,
    "dscnn": dscnn,
    "resnet8": resnet8,
    "mobilenetv1": mobilenetv1,
    "conv1d": conv1d,
}

# The bundled data set each architecture trains on by default.
DEFAULT_DATA = {
    "tinyconv": "digits",
    "dscnn": "digits",
    "resnet8": "digits",
    "mobilenetv1": "digits",
    "conv1d": "signals",
}


def knobs(arch: str) -> tuple[str, ...]:
    """The keyword knobs an architecture's builder takes (width, depth, kernel, first_stride)."""
    import inspect

    params = inspect.signature(ARCHITECTURES[arch]).parameters
    return tuple(p for p in ("width", "depth", "kernel", "first_stride") if p in params)


def build_model(arch: str, input_shape, num_classes: int, width: float | None = None, depth: int | None = None, **more):
    if arch not in ARCHITECTURES:
        from edgeconv.frontend.ir import ModelError

        raise ModelError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHITECTURES)})")
    kwargs = {}
    if width is not None:
        kwargs["width"] = width
    if depth is not None:
        kwargs["depth"] = depth
    # Further knobs (kernel, first_stride: see knobs()), given only where not None.
    kwargs.update({k: v for k, v in more.items() if v is not None})
    return ARCHITECTURES[arch](tuple(input_shape), num_classes, **kwargs)
