"""Parity of MEAN, PAD/PADV2, TRANSPOSE, SPACE_TO_BATCH_ND/BATCH_TO_SPACE_ND and RESIZE_*.

Each case is a small seeded model converted from Keras or a tf.function; the compiled C must
equal TFLite Micro bit for bit (assert_bit_exact). Every case also checks that the converter
really emitted the op it is about, so a converter change cannot silently empty a test.

One exception: SPACE_TO_BATCH_ND with nonzero paddings. TFLite Micro fills padded positions
from a never-initialized field (SpaceToBatchParams.output_offset; see
edgeconv/lowering/ops/space_batch.py), so its output there depends on what the heap held before and
no implementation can match it reliably. Those cases are compared with TFLite's reference
kernels (which pad with the zero point) instead; the TFLite Micro parity cases use no
padding, or VALID dilated convolutions whose padded positions are cropped away.
"""

import numpy as np
import pytest

from edgeconv.checking.references import TfliteRefReference
from edgeconv.checking.validation import random_inputs
from edgeconv.emit.emitter import emit
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.targets.hostbuild import build_and_load
from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_function, tflite_from_keras


def _opcodes(data: bytes) -> list[str]:
    return [op.opcode for op in read_tflite_bytes(data).ops]


def _check(data: bytes, label: str, expect: str, seed: int):
    ops = _opcodes(data)
    assert expect in ops, f"{label}: the converter emitted {ops}, no {expect}"
    return assert_bit_exact(data, label, seed=seed)


def _check_vs_tflite_reference(data: bytes, label: str, expect: str, seed: int, samples: int = 8):
    """Bit-exact against TFLite's reference kernels (LiteRT BUILTIN_REF) only."""
    ops = _opcodes(data)
    assert expect in ops, f"{label}: the converter emitted {ops}, no {expect}"
    model = compile_bytes(data, label)
    host = build_and_load(model, emit(model))
    ref = TfliteRefReference(data)
    n_out = len(model.graph.outputs)
    for i, sample in enumerate(random_inputs(model, samples, seed)):
        for ours, theirs in zip(host.run(sample), ref.run(sample, n_out)):
            bad = int((ours != np.asarray(theirs).reshape(ours.shape)).sum())
            assert bad == 0, f"{label}: sample {i}: {bad} elements differ from TFLite's reference"


# ---------------------------------------------------------------------------------------------
# MEAN

MEAN_CASES = {
    # name: (input shape, axes, keepdims, calibration range)
    "spatial_keep": ((1, 7, 5, 8), [1, 2], True, (-1.0, 1.0)),
    "spatial_drop": ((1, 6, 6, 12), [1, 2], False, (0.0, 2.0)),
    "spatial_batch2": ((2, 4, 9, 3), [2, 1], True, (-3.0, 1.0)),
    "single_axis_h": ((1, 5, 7, 4), [1], False, (-1.0, 1.0)),
    "channels": ((1, 4, 4, 16), [-1], True, (0.0, 1.0)),
    "channels_3d": ((1, 9, 20), [2], False, (-2.0, 0.5)),
    "all_non_batch_odd": ((1, 3, 5, 7), [1, 2, 3], True, (-1.0, 3.0)),
    "spatial_large": ((1, 24, 20, 4), [1, 2], True, (-1.0, 4.0)),
    "batch_axis_3d": ((3, 4, 5), [0], False, (-1.0, 1.0)),
}


@pytest.mark.parametrize("name", sorted(MEAN_CASES))
def test_mean(name):
    import tensorflow as tf

    shape, axes, keep, (low, high) = MEAN_CASES[name]
    seed = sorted(MEAN_CASES).index(name)

    def fn(x):
        return tf.reduce_mean(x, axis=axes, keepdims=keep)

    data = cached_model(
        {"op": "mean", "name": name, "shape": shape, "axes": axes, "keep": keep, "range": [low, high]},
        lambda: tflite_from_function(fn, [shape], seed=seed, low=low, high=high),
    )
    _check(data, f"mean_{name}", "MEAN", seed)


@pytest.mark.parametrize("keepdims", [False, True])
def test_mean_keras_global_average_pool(keepdims):
    """What Keras' GlobalAveragePooling2D emits, behind a conv so in/out quantization differ."""
    import tensorflow as tf

    seed = 7 + int(keepdims)

    def build():
        seeded_keras(seed)
        x = tf.keras.Input((9, 7, 3), batch_size=1)
        h = tf.keras.layers.Conv2D(10, 3, activation="relu")(x)
        y = tf.keras.layers.GlobalAveragePooling2D(keepdims=keepdims)(h)
        return tflite_from_keras(tf.keras.Model(x, y), seed=seed)

    data = cached_model({"op": "mean_keras_gap", "keepdims": keepdims, "seed": seed}, build)
    _check(data, f"mean_gap_keep{int(keepdims)}", "MEAN", seed)


# ---------------------------------------------------------------------------------------------
# PAD / PADV2

PAD_CASES = {
    # name: (input shape, paddings, constant or None, calibration range)
    "4d_hw": ((1, 5, 6, 3), [[0, 0], [1, 2], [3, 0], [0, 0]], None, (0.0, 1.0)),
    "4d_all_axes": ((1, 3, 4, 5), [[0, 1], [2, 1], [0, 2], [1, 3]], None, (-1.0, 3.0)),
    "3d": ((2, 7, 4), [[1, 0], [0, 3], [2, 1]], None, (-2.0, 1.0)),
    "v2_4d": ((1, 4, 5, 6), [[0, 0], [2, 1], [1, 2], [0, 0]], 0.25, (-1.0, 1.0)),
    "v2_3d_channels": ((1, 6, 5), [[0, 0], [1, 1], [3, 2]], -0.5, (-1.0, 0.5)),
}


@pytest.mark.parametrize("name", sorted(PAD_CASES))
def test_pad(name):
    import tensorflow as tf

    shape, paddings, value, (low, high) = PAD_CASES[name]
    seed = 20 + sorted(PAD_CASES).index(name)

    def fn(x):
        if value is None:
            return tf.pad(x, paddings)
        return tf.pad(x, paddings, constant_values=value)

    data = cached_model(
        {"op": "pad", "name": name, "shape": shape, "paddings": paddings, "value": value, "range": [low, high]},
        lambda: tflite_from_function(fn, [shape], seed=seed, low=low, high=high),
    )
    _check(data, f"pad_{name}", "PAD" if value is None else "PADV2", seed)


# ---------------------------------------------------------------------------------------------
# TRANSPOSE

TRANSPOSE_CASES = {
    "3d_021": ((2, 5, 7), [0, 2, 1]),
    "3d_201": ((3, 4, 6), [2, 0, 1]),
    "4d_nchw": ((1, 5, 6, 3), [0, 3, 1, 2]),
    "4d_reverse": ((2, 3, 4, 5), [3, 2, 1, 0]),
    "5d": ((1, 2, 3, 4, 5), [0, 4, 2, 1, 3]),
}


@pytest.mark.parametrize("name", sorted(TRANSPOSE_CASES))
def test_transpose(name):
    import tensorflow as tf

    shape, perm = TRANSPOSE_CASES[name]
    seed = 40 + sorted(TRANSPOSE_CASES).index(name)

    def fn(x):
        return tf.transpose(x, perm)

    data = cached_model(
        {"op": "transpose", "name": name, "shape": shape, "perm": perm},
        lambda: tflite_from_function(fn, [shape], seed=seed),
    )
    _check(data, f"transpose_{name}", "TRANSPOSE", seed)


# ---------------------------------------------------------------------------------------------
# SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND


DILATED_CASES = {
    # name: (kind, padding, input shape, rate, calibration range)
    "conv_same_rate2": ("conv", "SAME", (1, 11, 10, 4), 2, (-1.0, 1.0)),
    "conv_same_rate3": ("conv", "SAME", (1, 10, 13, 3), 3, (0.0, 2.0)),
    "depthwise_same_rate2": ("depthwise", "SAME", (1, 9, 12, 5), 2, (-0.5, 1.5)),
    "conv_valid_rate2": ("conv", "VALID", (1, 12, 11, 3), 2, (-1.0, 2.0)),
    "depthwise_valid_rate3": ("depthwise", "VALID", (1, 13, 10, 4), 3, (0.0, 1.0)),
}


@pytest.mark.parametrize("name", sorted(DILATED_CASES))
def test_dilated_conv_space_to_batch(name):
    """A dilated 3x3 convolution as the converter lowers it: SPACE_TO_BATCH_ND (padding to a
    multiple of the rate) -> CONV_2D/DEPTHWISE_CONV_2D (VALID) -> BATCH_TO_SPACE_ND (crop).

    tf.nn.atrous_conv2d / conv2d(dilations=...) come out of this converter as one dilated
    CONV_2D; a RELU between the convolution and BATCH_TO_SPACE_ND keeps the three ops apart.
    SAME pads real data (compared with TFLite's reference, see the module docstring); VALID
    pads only rows and columns that are cropped away (compared with TFLite Micro)."""
    import tensorflow as tf

    kind, padding, shape, rate, (low, high) = DILATED_CASES[name]
    seed = 60 + sorted(DILATED_CASES).index(name)
    rng = np.random.default_rng(seed)
    cin = shape[3]
    if kind == "conv":
        w = tf.constant(rng.normal(0, 0.3, size=(3, 3, cin, 6)).astype(np.float32))
        b = tf.constant(rng.normal(0, 0.1, size=(6,)).astype(np.float32))
    else:
        w = tf.constant(rng.normal(0, 0.5, size=(3, 3, cin, 1)).astype(np.float32))
        b = tf.constant(rng.normal(0, 0.1, size=(cin,)).astype(np.float32))
    # TF's required_space_to_batch_paddings for a 3x3 kernel: SAME pads `rate` on each side,
    # VALID nothing; both add at the end what reaches a multiple of the rate, cropped after.
    base = rate if padding == "SAME" else 0
    extra = [(-(d + 2 * base)) % rate for d in shape[1:3]]
    paddings = [[base, base + e] for e in extra]
    crops = [[0, e] for e in extra]

    def fn(x):
        s = tf.space_to_batch_nd(x, [rate, rate], paddings)
        if kind == "conv":
            c = tf.nn.conv2d(s, w, strides=1, padding="VALID")
        else:
            c = tf.nn.depthwise_conv2d(s, w, strides=[1, 1, 1, 1], padding="VALID")
        return tf.batch_to_space(tf.nn.relu(tf.nn.bias_add(c, b)), [rate, rate], crops)

    data = cached_model(
        {"op": "dilated_s2b", "name": name, "spec": DILATED_CASES[name]},
        lambda: tflite_from_function(fn, [shape], seed=seed, low=low, high=high),
    )
    ops = _opcodes(data)
    assert "BATCH_TO_SPACE_ND" in ops, f"the converter emitted {ops}"
    if padding == "SAME":
        _check_vs_tflite_reference(data, f"dilated_{name}", "SPACE_TO_BATCH_ND", seed)
    else:
        _check(data, f"dilated_{name}", "SPACE_TO_BATCH_ND", seed)


RAW_S2B_CASES = {
    # name: (op, input shape, block, paddings or crops, calibration range)
    "s2b_4d_pad": ("s2b", (1, 5, 6, 3), [2, 3], [[1, 2], [2, 1]], (-1.0, 1.0)),
    "s2b_3d_pad": ("s2b", (2, 7, 3), [2], [[1, 2]], (0.0, 1.0)),
    "s2b_4d": ("s2b", (2, 4, 6, 2), [2, 3], [[0, 0], [0, 0]], (-2.0, 1.0)),
    "s2b_3d": ("s2b", (1, 6, 4), [3], [[0, 0]], (0.0, 1.0)),
    "b2s_4d": ("b2s", (6, 3, 4, 2), [2, 3], [[0, 1], [2, 1]], (-1.0, 1.0)),
    "b2s_3d": ("b2s", (6, 4, 5), [3], [[1, 2]], (0.0, 3.0)),
}


@pytest.mark.parametrize("name", sorted(RAW_S2B_CASES))
def test_space_batch_raw(name):
    """The raw ops with asymmetric paddings/crops and non-square blocks, 3-D and 4-D."""
    import tensorflow as tf

    kind, shape, block, pads, (low, high) = RAW_S2B_CASES[name]
    seed = 70 + sorted(RAW_S2B_CASES).index(name)

    def fn(x):
        if kind == "s2b":
            return tf.space_to_batch_nd(x, block, pads)
        return tf.batch_to_space(x, block, pads)

    data = cached_model(
        {"op": "space_batch_raw", "name": name, "spec": RAW_S2B_CASES[name]},
        lambda: tflite_from_function(fn, [shape], seed=seed, low=low, high=high),
    )
    opcode = "SPACE_TO_BATCH_ND" if kind == "s2b" else "BATCH_TO_SPACE_ND"
    if kind == "s2b" and any(v for p in pads for v in p):
        _check_vs_tflite_reference(data, name, opcode, seed)
    else:
        _check(data, name, opcode, seed)


# ---------------------------------------------------------------------------------------------
# RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR

RESIZE_CASES = {
    # name: (method, input HxW, output HxW, align_corners, half_pixel_centers)
    "bilinear_up_half": ("bilinear", (5, 7), (12, 16), False, True),
    "bilinear_down_half": ("bilinear", (13, 11), (5, 4), False, True),
    "bilinear_up_align": ("bilinear", (4, 6), (9, 13), True, False),
    "bilinear_down_align": ("bilinear", (10, 9), (4, 7), True, False),
    "bilinear_up_plain": ("bilinear", (3, 5), (7, 11), False, False),
    "nearest_up_half": ("nearest", (5, 6), (11, 17), False, True),
    "nearest_down_half": ("nearest", (12, 9), (5, 4), False, True),
    "nearest_up_align": ("nearest", (4, 7), (10, 15), True, False),
    "nearest_down_plain": ("nearest", (11, 8), (4, 3), False, False),
}


@pytest.mark.parametrize("name", sorted(RESIZE_CASES))
def test_resize(name):
    import tensorflow as tf

    method, (ih, iw), size, align, half = RESIZE_CASES[name]
    seed = 80 + sorted(RESIZE_CASES).index(name)

    def fn(x):
        if method == "bilinear":
            return tf.compat.v1.image.resize_bilinear(x, size, align_corners=align, half_pixel_centers=half)
        return tf.compat.v1.image.resize_nearest_neighbor(x, size, align_corners=align, half_pixel_centers=half)

    shape = (1, ih, iw, 3)
    data = cached_model(
        {"op": "resize", "name": name, "spec": RESIZE_CASES[name]},
        lambda: tflite_from_function(fn, [shape], seed=seed, low=-1.5, high=1.0),
    )
    opcode = "RESIZE_BILINEAR" if method == "bilinear" else "RESIZE_NEAREST_NEIGHBOR"
    _check(data, f"resize_{name}", opcode, seed)
