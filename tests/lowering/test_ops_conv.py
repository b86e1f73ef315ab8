"""Parity of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED over seeded random parameters."""

import numpy as np
import pytest

from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_keras

ACTS = [None, "relu", "relu6"]


def _conv_case(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    k = int(rng.choice([1, 2, 3, 5]))
    dil = int(rng.choice([1, 1, 2])) if k > 1 else 1
    stride = 1 if dil > 1 else int(rng.choice([1, 2]))
    return dict(
        h=int(rng.integers(5, 13)),
        w=int(rng.integers(5, 13)),
        cin=int(rng.choice([1, 3, 8])),
        cout=int(rng.choice([1, 4, 16])),
        k=k,
        kw=int(rng.choice([k, 1])),
        stride=stride,
        dil=dil,
        padding=str(rng.choice(["same", "valid"])),
        act=ACTS[int(rng.integers(0, 3))],
        bias=bool(rng.integers(0, 2)),
        seed=seed,
    )


# Like _build_depthwise below, but Keras' Conv2D (filters, dilation): kept apart, the layers' arguments differ
def _build_conv(spec: dict) -> bytes:
    import tensorflow as tf

    seeded_keras(spec["seed"])
    x = tf.keras.Input((spec["h"], spec["w"], spec["cin"]), batch_size=1)
    y = tf.keras.layers.Conv2D(
        spec["cout"],
        (spec["k"], spec["kw"]),
        strides=spec["stride"],
        dilation_rate=spec["dil"],
        padding=spec["padding"],
        activation=spec["act"],
        use_bias=spec["bias"],
        bias_initializer="random_normal",
    )(x)
    return tflite_from_keras(tf.keras.Model(x, y), seed=spec["seed"])


@pytest.mark.parametrize("seed", range(12))
def test_conv2d_random(seed):
    spec = _conv_case(seed)
    if spec["padding"] == "valid" and (spec["k"] - 1) * spec["dil"] + 1 > min(spec["h"], spec["w"]):
        spec["padding"] = "same"
    data = cached_model({"op": "conv2d", **spec}, lambda: _build_conv(spec))
    assert_bit_exact(data, f"conv2d_{seed}", seed=seed)


# Like _build_conv above, but Keras' DepthwiseConv2D (depth multiplier): kept apart, the layers' arguments differ
def _build_depthwise(spec: dict) -> bytes:
    import tensorflow as tf

    seeded_keras(spec["seed"])
    x = tf.keras.Input((spec["h"], spec["w"], spec["cin"]), batch_size=1)
    y = tf.keras.layers.DepthwiseConv2D(
        (spec["k"], spec["kw"]),
        strides=spec["stride"],
        depth_multiplier=spec["mult"],
        padding=spec["padding"],
        activation=spec["act"],
        use_bias=spec["bias"],
        bias_initializer="random_normal",
    )(x)
    return tflite_from_keras(tf.keras.Model(x, y), seed=spec["seed"])


@pytest.mark.parametrize("seed", range(10))
def test_depthwise_random(seed):
    rng = np.random.default_rng(100 + seed)
    k = int(rng.choice([1, 3, 5]))
    spec = dict(
        h=int(rng.integers(6, 12)),
        w=int(rng.integers(6, 12)),
        cin=int(rng.choice([1, 4, 8])),
        k=k,
        kw=int(rng.choice([k, 3])),
        stride=int(rng.choice([1, 2])),
        mult=int(rng.choice([1, 1, 2, 3])),
        padding=str(rng.choice(["same", "valid"])),
        act=ACTS[int(rng.integers(0, 3))],
        bias=bool(rng.integers(0, 2)),
        seed=seed,
    )
    data = cached_model({"op": "depthwise", **spec}, lambda: _build_depthwise(spec))
    assert_bit_exact(data, f"depthwise_{seed}", seed=seed)


@pytest.mark.parametrize("seed", range(6))
def test_fully_connected_random(seed):
    import tensorflow as tf

    rng = np.random.default_rng(200 + seed)
    spec = dict(
        n=int(rng.integers(1, 64)),
        units=int(rng.integers(1, 40)),
        act=ACTS[int(rng.integers(0, 3))],
        rows=int(rng.choice([1, 3])),
        seed=seed,
    )

    def build():
        seeded_keras(seed)
        shape = (spec["n"],) if spec["rows"] == 1 else (spec["rows"], spec["n"])
        x = tf.keras.Input(shape, batch_size=1)
        y = tf.keras.layers.Dense(spec["units"], activation=spec["act"], bias_initializer="random_normal")(x)
        return tflite_from_keras(tf.keras.Model(x, y), seed=seed)

    data = cached_model({"op": "fc", **spec}, build)
    assert_bit_exact(data, f"fc_{seed}", seed=seed)


@pytest.mark.parametrize("seed", [32, 33, 34])
def test_fully_connected_per_tensor(seed):
    """Per-tensor weights (as older converters and ad01 have them). Seed 32 is a case whose
    float32 and double scale products round to different multipliers: TFLM follows double."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    n, units = int(rng.integers(8, 200)), int(rng.integers(4, 300))
    low, high = -float(rng.uniform(0.5, 4)), float(rng.uniform(0.5, 4))

    def build():
        seeded_keras(seed)
        x = tf.keras.Input((n,), batch_size=1)
        y = tf.keras.layers.Dense(units)(tf.keras.layers.Dense(n, activation="relu")(x))
        return tflite_from_keras(tf.keras.Model(x, y), seed=seed, calib=16, low=low, high=high, per_channel_dense=False)

    data = cached_model({"op": "fc-per-tensor", "seed": seed}, build)
    from edgeconv.frontend.reader import read_tflite_bytes

    g = read_tflite_bytes(data)
    assert all(not g.tensors[op.inputs[1]].quant.per_channel for op in g.ops if op.opcode == "FULLY_CONNECTED")
    assert_bit_exact(data, f"fc_per_tensor_{seed}", samples=300, seed=seed)
