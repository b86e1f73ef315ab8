"""Seeded random small CNNs drawn from the layers Keras users reach for, each converted by the
plain TFLite converter and checked bit-exact against TFLite Micro: run whole, or op by op where
it lacks an op (each such op then in TFLite's reference kernels; the validation notes say so).
N_MODELS seeds, none skipped: a seed whose model edgeconv refuses is a failure.

Every other seed is built without a fixed batch size (`keras.Input(shape)`, the usual way): the
converter then writes a dynamic batch and placeholder shapes for intermediate tensors, which
edgeconv must recompute as TFLite's Prepare does. Every third seed is quantized 16x8 (int16
activations, int8 weights), drawing only from the layers TFLite Micro runs in int16.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelgen import assert_exact_vs_oracle, cached_model, seeded_keras, tflite_from_keras

N_MODELS = 108

# Activations by name, as Keras layers take them, each converted as the converter writes it:
# elu becomes a float ELU between DEQUANTIZE and QUANTIZE (one table), softplus and mish EXP, ADD,
# LOG (and TANH, MUL), celu RELU, MINIMUM, EXP, the shrinks comparisons and SELECT_V2, squareplus
# a float SQUARE island and SQRT, softsign ABS, ADD, DIV. Not drawn: glu (halves the channels: a
# gating layer, not an activation of a CNN block), threshold (no Keras activation by that name
# converts). 16x8: what the converter quantizes to 16x8 (no ELU, no HARD_SWISH, no DIV, no float
# islands, no comparisons).
ACTIVATIONS_INT8 = [
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "hard_swish",
    "gelu",
    "silu",
    "leaky_relu",
    "linear",
    "hard_sigmoid",
    "selu",
    "exponential",
    "elu",
    "softplus",
    "mish",
    "celu",
    "log_sigmoid",
    "squareplus",
    "sparse_plus",
    "tanh_shrink",
    "soft_shrink",
    "hard_shrink",
    "hard_tanh",
    "log_softmax",
    "softsign",
]
# Drawn by the stem only (its input spans the sample range): deeper, the shrinks zero every
# value below 0.5 and can leave the network dead (tanh_shrink then soft_shrink: a softmax input
# scale of 1e-8, which TFLite refuses).
STEM_ONLY = {"soft_shrink", "hard_shrink"}
# 16x8 draws only what TFLite Micro runs in int16 (no GELU, no REDUCE_MAX, no int16
# SPACE_TO_BATCH_ND, which the 16x8 converter writes for a dilated convolution), and EXP and LOG,
# which TFLite Micro lacks (validation then runs the model in TFLite Micro op by op).
ACTIVATIONS_16X8 = [
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "linear",
    "leaky_relu",
    "silu",
    "softplus",
    "mish",
    "celu",
    "tanh_shrink",
    "hard_tanh",
]

# Ops TFLite Micro lacks or fails to run (TFLite Micro runs such a model op by op, each of these
# ops in TFLite's reference): EXP and SELECT (selu, exponential, celu, the shrinks), LOG
# (softplus, mish, log_sigmoid), SQRT (squareplus), GELU, TILE (UpSampling2D nearest).
TFLM_LACKS = {"EXP", "GELU", "SELECT", "TILE", "LOG", "SQRT"}

BLOCKS_INT8 = [
    "conv",
    "grouped",
    "dwsep",
    "separable",
    "residual",
    "bn",
    "se",
    "pool",
    "concat",
    "act",
    "pad",
    "crop",
    "upsample",
    "resize",
    "tconv",
    "mul",
    "dilated",
    "norm",
    "attention",
    "split",
    "l2norm",
]
# The int8 blocks, in the same order, less upsample, resize, dilated and l2norm.
BLOCKS_16X8 = [b for b in BLOCKS_INT8 if b not in ("upsample", "resize", "dilated", "l2norm")]


class Gen:
    """One model's random choices: the seed's rng and which layer set it draws from."""

    def __init__(self, seed: int) -> None:
        import tensorflow as tf

        self.tf = tf
        self.L = tf.keras.layers
        self.rng = np.random.default_rng(seed)
        self.mode = "16x8" if seed % 3 == 2 else "int8"
        self.dynamic_batch = seed % 2 == 0

    def pick(self, options):
        return options[int(self.rng.integers(0, len(options)))]

    def act(self) -> str:
        return self.pick(
            ACTIVATIONS_16X8 if self.mode == "16x8" else [a for a in ACTIVATIONS_INT8 if a not in STEM_ONLY]
        )

    def coin(self) -> bool:
        return bool(self.rng.integers(0, 2))


def _layer_norm(t):
    """Layer normalization over channels, written out as users write it (Keras'
    LayerNormalization converts with a float NEG left in the graph)."""
    import tensorflow as tf

    mean = tf.reduce_mean(t, axis=-1, keepdims=True)
    var = tf.reduce_mean(tf.math.squared_difference(t, mean), axis=-1, keepdims=True)
    return (t - mean) * tf.math.rsqrt(var + 1e-3)


def _l2_normalize(t):
    import tensorflow as tf

    return tf.math.l2_normalize(t, axis=-1)


def _split_channels(t):
    import tensorflow as tf

    return tf.split(t, 2, axis=-1)


def _shrink(g: Gen, y, pixels: int):
    """Max-pool y until it has at most `pixels` pixels (attention and upsampling stay small)."""
    while int(y.shape[1]) * int(y.shape[2]) > pixels and min(int(y.shape[1]), int(y.shape[2])) >= 2:
        y = g.L.MaxPooling2D(2)(y)
    return y


def _block_2d(g: Gen, y):
    """One random block on an NHWC tensor; returns the new tensor."""
    L, tf = g.L, g.tf
    kind = g.pick(BLOCKS_16X8 if g.mode == "16x8" else BLOCKS_INT8)
    if kind in ("attention", "upsample", "resize", "tconv"):
        y = _shrink(g, y, 64 if kind == "attention" else 100)
    h, w, c = (int(d) for d in y.shape[1:])
    if kind == "conv":
        k = g.pick([1, 3, 5]) if min(h, w) >= 5 else 1
        stride = g.pick([1, 2]) if min(h, w) >= 4 else 1
        return L.Conv2D(
            g.pick([4, 8, 12]),
            k,
            strides=stride,
            padding=g.pick(["same", "valid"]) if min(h, w) > k else "same",
            use_bias=g.coin(),
            activation=g.act(),
        )(y)
    if kind == "grouped":
        groups = g.pick([d for d in (2, 4) if c % d == 0] or [1])
        return L.Conv2D(groups * g.pick([2, 4]), 3, padding="same", groups=groups, activation=g.act())(y)
    if kind == "dwsep":
        z = L.DepthwiseConv2D(3, padding="same", depth_multiplier=g.pick([1, 2]), activation="relu")(y)
        return L.Conv2D(g.pick([4, 8]), 1, activation="relu6")(z)
    if kind == "separable":
        return L.SeparableConv2D(
            g.pick([4, 8]), 3, padding="same", depth_multiplier=g.pick([1, 2]), activation=g.act()
        )(y)
    if kind == "residual":
        z = L.Conv2D(c, 3, padding="same", activation="relu")(y)
        z = L.Conv2D(c, 3, padding="same")(z)
        merged = L.Add()([y, z]) if g.coin() else L.Subtract()([y, z])
        return L.Activation("relu")(merged)
    if kind == "bn":  # Conv + BatchNormalization + activation: the converter folds the normalization
        z = L.Conv2D(g.pick([4, 8]), 3, padding="same", use_bias=False)(y)
        z = L.BatchNormalization(
            beta_initializer="random_uniform",
            gamma_initializer="random_uniform",
            moving_mean_initializer="random_uniform",
            moving_variance_initializer=tf.keras.initializers.RandomUniform(0.5, 1.5),
        )(z)
        return L.Activation(g.act())(z)
    if kind == "se":  # squeeze-and-excite
        s = L.GlobalAveragePooling2D(keepdims=True)(y)
        # A bias of 1 keeps the few squeeze channels alive: with every one dead on the
        # calibration set the converter gives the output a scale near 1e-43, and the 16x8
        # requantization a shift TFLite leaves undefined (edgeconv refuses that model).
        s = L.Conv2D(max(c // 2, 1), 1, activation="relu", bias_initializer="ones")(s)
        s = L.Conv2D(c, 1, activation="sigmoid")(s)
        return L.Multiply()([y, s])
    if kind == "pool":
        if min(h, w) < 3:
            return y
        pool = L.MaxPooling2D if g.coin() else L.AveragePooling2D
        size = g.pick([2, 3])
        return pool(size, strides=g.pick([1, 2, size]), padding=g.pick(["same", "valid"]))(y)
    if kind == "concat":
        a = L.Conv2D(g.pick([2, 4]), 1, activation="relu")(y)
        b = L.Conv2D(g.pick([2, 4]), 3, padding="same")(y)
        return L.Concatenate(axis=-1)([a, b])
    if kind == "act":
        which = g.pick(["leaky", "prelu", "relu_max", "named"] if g.mode == "int8" else ["leaky", "named"])
        if which == "leaky":
            return L.LeakyReLU(negative_slope=g.pick([0.1, 0.2, 0.3]))(y)
        if which == "prelu":
            # After a plain conv: behind an op with a fused ReLU the converter does not match
            # Keras 3's PReLU pattern and leaves a float NEG between DEQUANTIZE and QUANTIZE.
            z = L.Conv2D(c, 1)(y)
            return L.PReLU(shared_axes=[1, 2], alpha_initializer=tf.keras.initializers.RandomUniform(0.0, 0.5))(z)
        if which == "relu_max":
            return L.ReLU(max_value=g.pick([1.0, 6.0]))(y)
        return L.Activation(g.act())(y)
    if kind == "pad":
        return L.ZeroPadding2D(((int(g.rng.integers(0, 2)), 1), (1, int(g.rng.integers(0, 3)))))(y)
    if kind == "crop":
        if min(h, w) < 4:
            return y
        return L.Cropping2D(((int(g.rng.integers(0, 2)), 1), (int(g.rng.integers(0, 2)), int(g.rng.integers(0, 2)))))(y)
    if kind == "upsample":  # Keras 3 lowers UpSampling2D(nearest) to TILE, bilinear to RESIZE_BILINEAR
        return L.UpSampling2D(2, interpolation=g.pick(["nearest", "bilinear"]))(y)
    if kind == "resize":
        return L.Resizing(2 * h, 2 * w, interpolation=g.pick(["nearest", "bilinear"]))(y)
    if kind == "tconv":
        # With a bias, and no activation the converter folds into it (hard_sigmoid's scale and
        # offset): either way it writes a 1-element bias that TFLite refuses.
        return L.Conv2DTranspose(
            g.pick([4, 8]),
            g.pick([2, 3]),
            strides=g.pick([1, 2]),
            padding=g.pick(["same", "valid"]),
            activation=g.pick(["relu", "relu6", "linear", "tanh", "sigmoid"]),
        )(y)
    if kind == "mul":
        z = L.Conv2D(c, 1, activation="sigmoid")(y)
        return L.Multiply()([y, z])
    if kind == "dilated":
        if min(h, w) < 5:
            return y
        return L.Conv2D(
            g.pick([4, 8]),
            3,
            dilation_rate=g.pick([2, 3]),
            padding=g.pick(["same", "valid"]) if min(h, w) >= 9 else "same",
            activation="relu",
        )(y)
    if kind == "norm":  # normalization written out: MEAN, SQUARED_DIFFERENCE, RSQRT, SUB, MUL, ADD
        return L.Lambda(_layer_norm)(y)
    if kind == "l2norm":  # L2_NORMALIZATION
        return L.Lambda(_l2_normalize)(y)
    if kind == "attention":  # self-attention over the pixels: BATCH_MATMUL, SOFTMAX, FULLY_CONNECTED
        seq = L.Reshape((h * w, c))(y)
        att = L.MultiHeadAttention(num_heads=2, key_dim=4)(seq, seq)
        return L.Reshape((h, w, c))(L.Add()([seq, att]))
    if kind == "split":  # split heads: SPLIT, two branches, CONCATENATION
        if c < 2:
            return y
        if c % 2:
            y = L.Conv2D(c + 1, 1)(y)
        a, b = L.Lambda(_split_channels)(y)
        a = L.Conv2D(4, 3, padding="same", activation="relu")(a)
        b = L.Conv2D(4, 1, activation="relu")(b)
        return L.Concatenate()([a, b])
    raise AssertionError(kind)


def _head(g: Gen, y, classes):
    L = g.L
    kind = g.pick(["gap", "gmp", "flatten"] if g.mode == "int8" else ["gap", "flatten"])
    if kind == "gap":
        y = L.GlobalAveragePooling2D()(y)
    elif kind == "gmp":
        y = L.GlobalMaxPooling2D()(y)
    else:
        y = L.Flatten()(y)
    if g.coin():
        y = L.Dense(g.pick([8, 16]), activation=g.pick(["relu", "tanh"]))(y)
    y = L.Dense(classes)(y)
    return L.Softmax()(y) if g.coin() else y


def _signal_model(g: Gen, classes: int):
    """A 1-D signal model: Conv1D stacks with dilations, groups and separable convolutions."""
    L, tf = g.L, g.tf
    length, ch = int(g.rng.integers(16, 64)), g.pick([1, 3, 6])
    x = tf.keras.Input((length, ch), batch_size=None if g.dynamic_batch else 1)
    y = x
    for _ in range(int(g.rng.integers(1, 4))):
        if int(y.shape[1]) < 8:
            break
        kind = g.pick(
            ["conv", "dilated", "separable", "grouped", "crop", "pad"]
            if g.mode == "int8"
            else ["conv", "separable", "grouped", "crop", "pad"]
        )
        c = int(y.shape[-1])
        if kind == "conv":
            y = L.Conv1D(
                g.pick([4, 8]),
                g.pick([3, 5]),
                padding=g.pick(["same", "valid"]),
                strides=g.pick([1, 2]),
                activation=g.act(),
            )(y)
        elif kind == "dilated":
            y = L.Conv1D(
                g.pick([4, 8]), 3, dilation_rate=g.pick([2, 4]), padding=g.pick(["same", "causal"]), activation=g.act()
            )(y)
        elif kind == "separable":
            y = L.SeparableConv1D(g.pick([4, 8]), 3, padding="same", activation=g.act())(y)
        elif kind == "grouped":
            groups = g.pick([d for d in (2, 3) if c % d == 0] or [1])
            y = L.Conv1D(groups * 2, 3, padding="same", groups=groups, activation=g.act())(y)
        elif kind == "crop":
            y = L.Cropping1D((1, int(g.rng.integers(0, 3))))(y)
        else:
            y = L.ZeroPadding1D((int(g.rng.integers(0, 3)), 1))(y)
        if int(y.shape[1]) >= 4 and g.coin():
            y = (L.MaxPooling1D if g.coin() else L.AveragePooling1D)(2)(y)
    pool = g.pick(["gap", "gmp", "flatten"] if g.mode == "int8" else ["gap", "flatten"])
    y = (
        L.GlobalAveragePooling1D()(y)
        if pool == "gap"
        else L.GlobalMaxPooling1D()(y)
        if pool == "gmp"
        else L.Flatten()(y)
    )
    return tf.keras.Model(x, L.Dense(classes)(y))


def build_random_cnn(seed: int) -> bytes:
    g = Gen(seed)
    L, tf = g.L, g.tf
    seeded_keras(seed)
    classes = int(g.rng.integers(2, 11))
    batch = None if g.dynamic_batch else 1
    if seed % 5 == 4:
        model = _signal_model(g, classes)
    else:
        h = int(g.rng.integers(8, 25))
        w = int(g.rng.integers(8, 25)) if seed % 3 else h
        c = g.pick([1, 3])
        x = tf.keras.Input((h, w, c), batch_size=batch)
        inputs = [x]
        # The stem's activation walks the mode's list with the seed, so that every activation is
        # drawn (random draws alone leave the rarer ones out of 108 seeds).
        acts = ACTIVATIONS_16X8 if g.mode == "16x8" else ACTIVATIONS_INT8
        y = L.Conv2D(g.pick([4, 8]), 3, padding="same", activation=acts[(seed // 3) % len(acts)])(x)
        if seed % 7 == 3:  # a second input, merged by concatenation
            # Same shape as x: the converter may order the inputs differently from Keras.
            x2 = tf.keras.Input((h, w, c), batch_size=batch)
            inputs.append(x2)
            y = L.Concatenate()([y, L.Conv2D(4, 1)(x2)])
        for _ in range(int(g.rng.integers(2, 6))):
            y = _block_2d(g, y)
        outputs = [_head(g, y, classes)]
        if seed % 6 == 1:  # a second output
            outputs.append(L.Dense(3)(L.GlobalAveragePooling2D()(y)))
        model = tf.keras.Model(inputs, outputs)
    low = g.pick([-1.0, 0.0])
    return tflite_from_keras(model, seed=seed, low=low, high=1.0, mode=g.mode)


def random_cnn(seed: int) -> bytes:
    return cached_model({"kind": "random-cnn", "seed": seed, "version": 11}, lambda: build_random_cnn(seed))


@pytest.mark.parametrize("seed", range(N_MODELS))
def test_random_cnn_bit_exact(seed):
    from edgeconv.frontend.reader import read_tflite_bytes

    data = random_cnn(seed)
    report = assert_exact_vs_oracle(data, f"random_cnn_{seed}", samples=6, seed=seed)
    opcodes = {op.opcode for op in read_tflite_bytes(data).ops}
    # Dynamic batches included: validation gives TFLite Micro TFLite's shapes and explicit
    # SPACE_TO_BATCH_ND padding, so it runs the model whole unless it lacks an op; then it runs
    # it op by op, never leaving the oracle to TFLite's reference alone.
    assert report.oracle == ("tflm_ops" if opcodes & TFLM_LACKS else "tflm"), report.notes


def test_random_cnns_cover_the_layers():
    """The seeds really draw the ops the issue names: dynamic batches, 16x8, and each op below
    appears in at least one model (so a generator change cannot silently drop a layer)."""
    from edgeconv.frontend.reader import read_tflite_bytes

    seen: set[str] = set()
    int16 = dynamic = 0
    for seed in range(N_MODELS):
        graph = read_tflite_bytes(random_cnn(seed))
        seen.update(op.opcode for op in graph.ops)
        x = graph.tensors[graph.inputs[0]]
        int16 += x.dtype == "int16"
        dynamic += seed % 2 == 0
    assert int16 >= N_MODELS // 4 and dynamic >= N_MODELS // 3
    wanted = {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "TRANSPOSE_CONV",
        "REDUCE_MAX",
        "STRIDED_SLICE",
        "MEAN",
        "RSQRT",
        "SQUARED_DIFFERENCE",
        "BATCH_MATMUL",
        "SOFTMAX",
        "CONCATENATION",
        "PAD",
        "MUL",
        "ADD",
        "LOGISTIC",
        "RESIZE_BILINEAR",
        "SPLIT",
        "L2_NORMALIZATION",
        "GELU",
        "SPACE_TO_BATCH_ND",
        "HARD_SWISH",
        "EXP",
        "LOG",
        "ELU",
        "SQRT",
        "SELECT_V2",
        "LOG_SOFTMAX",
        "TILE",
        "DIV",
    }
    assert wanted <= seen, f"never drawn: {sorted(wanted - seen)}"
