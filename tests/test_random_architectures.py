"""Seeded random small CNNs mixing the supported ops, each converted by TFLite and checked
bit-exact. 50 seeds, none skipped: a seed whose model edgeconv refuses is a failure."""

from __future__ import annotations

import numpy as np
import pytest

from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_keras

N_MODELS = 50


def _act(rng):
    return str(rng.choice(["relu", "relu6", None, "sigmoid", "tanh", "hard_swish"]))


def _block_2d(L, rng, y):
    import tensorflow as tf

    """One random block on a 4-D tensor; returns the new tensor."""
    h, w, c = (int(d) for d in y.shape[1:])
    kind = str(rng.choice(["conv", "dwsep", "residual", "pool", "concat", "act", "pad", "mul", "upsample", "dilated"]))
    if kind == "conv":
        k = int(rng.choice([1, 3, 5])) if min(h, w) >= 5 else 1
        return L.Conv2D(int(rng.choice([4, 8, 12])), k, strides=int(rng.choice([1, 2])) if min(h, w) >= 4 else 1,
                        padding=str(rng.choice(["same", "valid"])) if min(h, w) > k else "same",
                        activation=str(rng.choice(["relu", "relu6", "linear"])))(y)
    if kind == "dwsep":
        z = L.DepthwiseConv2D(3, padding="same", depth_multiplier=int(rng.choice([1, 2])), activation="relu")(y)
        return L.Conv2D(int(rng.choice([4, 8])), 1, activation="relu6")(z)
    if kind == "residual":
        z = L.Conv2D(c, 3, padding="same", activation="relu")(y)
        z = L.Conv2D(c, 3, padding="same")(z)
        merged = L.Add()([y, z]) if rng.integers(0, 2) else L.Subtract()([y, z])
        return L.Activation("relu")(merged)
    if kind == "pool":
        if min(h, w) < 2:
            return y
        pool = L.MaxPooling2D if rng.integers(0, 2) else L.AveragePooling2D
        return pool(2, padding=str(rng.choice(["same", "valid"])))(y)
    if kind == "concat":
        a = L.Conv2D(int(rng.choice([2, 4])), 1, activation="relu")(y)
        b = L.Conv2D(int(rng.choice([2, 4])), 3, padding="same")(y)
        return L.Concatenate(axis=-1)([a, b])
    if kind == "act":
        which = str(rng.choice(["leaky", "prelu", "sigmoid", "tanh", "hard_swish", "relu6"]))
        if which == "leaky":
            return L.LeakyReLU(negative_slope=float(rng.choice([0.1, 0.2, 0.3])))(y)
        if which == "prelu":
            # After a plain conv: behind an op with a fused ReLU the converter does not match
            # Keras 3's PReLU pattern and leaves a float NEG between DEQUANTIZE and QUANTIZE.
            z = L.Conv2D(c, 1)(y)
            return L.PReLU(shared_axes=[1, 2], alpha_initializer=tf.keras.initializers.RandomUniform(0.0, 0.5))(z)
        return L.Activation(which)(y)
    if kind == "pad":
        return L.ZeroPadding2D(((int(rng.integers(0, 2)), 1), (1, int(rng.integers(0, 3)))))(y)
    if kind == "mul":
        z = L.Conv2D(c, 1, activation="sigmoid")(y)
        return L.Multiply()([y, z])
    if kind == "upsample":
        if h * w > 64:
            return y
        # Keras 3's UpSampling2D(nearest) lowers to TILE; Resizing lowers to the RESIZE ops.
        return L.Resizing(2 * h, 2 * w, interpolation=str(rng.choice(["nearest", "bilinear"])))(y)
    if kind == "dilated":
        if min(h, w) < 5:
            return y
        return L.Conv2D(int(rng.choice([4, 8])), 3, dilation_rate=2, padding="same", activation="relu")(y)
    raise AssertionError(kind)


def _head(L, rng, y, classes):
    kind = str(rng.choice(["gap", "flatten"]))
    if kind == "gap":
        y = L.GlobalAveragePooling2D()(y)
    else:
        y = L.Flatten()(y)
    if rng.integers(0, 2):
        y = L.Dense(int(rng.choice([8, 16])), activation=str(rng.choice(["relu", "tanh"])))(y)
    y = L.Dense(classes)(y)
    return L.Softmax()(y) if rng.integers(0, 2) else y


def build_random_cnn(seed: int) -> bytes:
    import tensorflow as tf

    L = tf.keras.layers
    rng = np.random.default_rng(seed)
    seeded_keras(seed)
    classes = int(rng.integers(2, 11))
    if seed % 5 == 4:  # a 1-D signal model: Conv1D stacks
        length, ch = int(rng.integers(16, 64)), int(rng.choice([1, 3, 6]))
        x = tf.keras.Input((length, ch), batch_size=1)
        y = x
        for _ in range(int(rng.integers(1, 4))):
            if int(y.shape[1]) < 6:
                break
            y = L.Conv1D(int(rng.choice([4, 8])), int(rng.choice([3, 5])), padding=str(rng.choice(["same", "valid"])),
                         strides=int(rng.choice([1, 2])), activation=str(rng.choice(["relu", "relu6"])))(y)
            if int(y.shape[1]) >= 4 and rng.integers(0, 2):
                y = (L.MaxPooling1D if rng.integers(0, 2) else L.AveragePooling1D)(2)(y)
        y = L.GlobalAveragePooling1D()(y) if rng.integers(0, 2) else L.Flatten()(y)
        out = L.Dense(classes)(y)
        model = tf.keras.Model(x, out)
    else:
        h = int(rng.integers(8, 25))
        w = int(rng.integers(8, 25)) if seed % 3 else h
        c = int(rng.choice([1, 3]))
        x = tf.keras.Input((h, w, c), batch_size=1)
        inputs = [x]
        y = L.Conv2D(int(rng.choice([4, 8])), 3, padding="same", activation="relu")(x)
        if seed % 7 == 3:  # a second input, merged by concatenation
            # Same shape as x: the converter may order the inputs differently from Keras.
            x2 = tf.keras.Input((h, w, c), batch_size=1)
            inputs.append(x2)
            y = L.Concatenate()([y, L.Conv2D(4, 1)(x2)])
        for _ in range(int(rng.integers(2, 6))):
            y = _block_2d(L, rng, y)
        outputs = [_head(L, rng, y, classes)]
        if seed % 6 == 1:  # a second output
            outputs.append(L.Dense(3)(L.GlobalAveragePooling2D()(y)))
        model = tf.keras.Model(inputs, outputs)
    low = float(rng.choice([-1.0, 0.0]))
    return tflite_from_keras(model, seed=seed, low=low, high=1.0)


@pytest.mark.parametrize("seed", range(N_MODELS))
def test_random_cnn_bit_exact(seed):
    data = cached_model({"kind": "random-cnn", "seed": seed, "version": 4}, lambda: build_random_cnn(seed))
    assert_bit_exact(data, f"random_cnn_{seed}", samples=6, seed=seed)
