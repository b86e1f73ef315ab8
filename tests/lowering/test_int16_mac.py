"""16x8 (int16 activations, int8 weights) CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED
(ec_conv2d_s16, ec_depthwise_conv2d_s16, ec_fully_connected_s16) against TFLite Micro, bit for
bit, and their Arm DSP paths against their portable paths on an emulated Cortex-M4.

Randomized single-op branches (seeded), several per model (tests/fastpaths.py branches_model:
one compile, one TFLite Micro run, one firmware build per model): kernel sizes, strides,
dilations, SAME/VALID, groups, depth multipliers, channel counts off multiples of 4, batches,
per-channel and per-tensor weights, int64, int32 and no bias (with quantized_bias_type INT32
or not: TFLite Micro's int32 accumulator), fused activations, large weights that need the int64
sums, large biases, requantization ratios above 1. Then models from the real converter
(EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8), the refusals, and the 64-bit
requantization helper against a transcription of TFLite's."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest

from edgeconv.checking.validation import random_inputs, validate_bytes
from edgeconv.emit.emitter import runtime_dir
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops.base import conv_output_size
from fastpaths import assert_dsp_equals_portable, branches_model
from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_keras
from mutants import SAME, VALID, Net

pytest.importorskip("flatbuffers")

INT32_BIAS_TYPE = 2  # tflite.TensorType.INT32, for quantized_bias_type
BIAS_TYPE_CODES = {"int32": 2, "int64": 4}  # what the converter writes there with a bias (TFLite checks it)


def _bias(n: Net, rng, name: str, bias: str, in_s: float, ws: np.ndarray, big: bool | str, count: int):
    """A bias input of the given type ("int64", "int32" or "none": -1) of count values, its
    scale input scale x weight scale (per tensor if ws holds one). big "edge": values within
    2^20 of the type's limits, so that sum + bias wraps (TFLite's accumulator wraps too)."""
    if bias == "none":
        return -1
    if big == "edge":
        top = (1 << 63) - 1 if bias == "int64" else (1 << 31) - 1
        data = np.where(rng.random(count) < 0.5, top, -top - 1)
        data = (data - np.sign(data) * rng.integers(0, 1 << 20, count)).astype(np.int64)
    else:
        limit = (1 << 40) if big and bias == "int64" else (1 << 30) if big else 200_000
        data = rng.integers(-limit, limit, count, dtype=np.int64)
    return n.tensor(name, [count], bias, scale=np.float32(in_s) * ws, zp=[0] * ws.size, data=data)


def _weights(rng, shape, heavy: bool) -> np.ndarray:
    """int8 weights; heavy: mostly +-127 and -128, so that 2^15 * sum|w| leaves int32."""
    if heavy:
        return rng.choice(np.array([-128, -127, 127, 126, -100]), size=shape)
    return rng.integers(-127, 128, size=shape)


def _scales(rng, count: int, per_channel: bool) -> np.ndarray:
    if per_channel:
        return rng.uniform(0.002, 0.02, count).astype(np.float32)
    return np.full(1, rng.uniform(0.002, 0.02), dtype=np.float32)


def _out_scale(rng, in_s: float, ws: np.ndarray, taps: int, gain: float) -> float:
    # typical |acc| ~ 2^14 * 64 * sqrt(taps): map it to about 2^13 output steps, times gain
    return float(in_s * float(ws.mean()) * 128 * math.sqrt(taps) / gain)


# Like _depthwise_branch below, but CONV_2D (groups, batch): kept apart, the ops' tensors and options differ
# Also like c_runtime/test_conv_fast.py's _branch and c/make_vectors.py's conv_model, but 16x8 with int32, int64
# or no bias (quantizedBiasType): kept apart, the int8 builders have no bias-type options
def _conv_branch(
    n: Net,
    rng,
    name: str,
    in_h: int,
    in_w: int,
    in_c: int,
    out_c: int,
    k_h: int,
    k_w: int,
    stride=(1, 1),
    dil=(1, 1),
    padding: int = SAME,
    groups: int = 1,
    bias: str = "int64",
    bias_type_option: int = 0,
    per_channel: bool = True,
    act: int = 0,
    batch: int = 1,
    heavy: bool = False,
    big_bias: bool = False,
    gain: float = 1.0,
):
    f_in_c = in_c // groups
    in_s = float(rng.uniform(1e-4, 1e-3))
    ws = _scales(rng, out_c, per_channel)
    out_h = conv_output_size(padding, in_h, k_h, stride[0], dil[0])
    out_w = conv_output_size(padding, in_w, k_w, stride[1], dil[1])
    x = n.tensor(f"{name}_in", [batch, in_h, in_w, in_c], "int16", scale=in_s, zp=0)
    w_shape = [out_c, k_h, k_w, f_in_c]
    w = n.tensor(f"{name}_w", w_shape, scale=ws, zp=[0] * ws.size, data=_weights(rng, w_shape, heavy), axis=0)
    b = _bias(n, rng, f"{name}_b", bias, in_s, np.broadcast_to(ws, (out_c,)).astype(np.float32), big_bias, out_c)
    y = n.tensor(
        f"{name}_out",
        [batch, out_h, out_w, out_c],
        "int16",
        scale=_out_scale(rng, in_s, ws, k_h * k_w * f_in_c, gain),
        zp=0,
    )
    # no bias: two inputs (TFLite refuses an omitted -1 bias, TFLite Micro runs both)
    n.op(
        "CONV_2D",
        [x, w] if b < 0 else [x, w, b],
        [y],
        padding=padding,
        strideH=stride[0],
        strideW=stride[1],
        dilationHFactor=dil[0],
        dilationWFactor=dil[1],
        fusedActivationFunction=act,
        quantizedBiasType=BIAS_TYPE_CODES.get(bias, bias_type_option),
    )
    return x, y


# Like _conv_branch above, but DEPTHWISE_CONV_2D (depth multiplier): kept apart, the ops' tensors and options differ
# Also like c_runtime/test_depthwise_fast.py's _branch and c/make_vectors.py's depthwise_model, but 16x8 with
# int32, int64 or no bias: kept apart, the int8 builders have no bias-type options
def _depthwise_branch(
    n: Net,
    rng,
    name: str,
    in_h: int,
    in_w: int,
    in_c: int,
    multiplier: int,
    k_h: int,
    k_w: int,
    stride=(1, 1),
    dil=(1, 1),
    padding: int = SAME,
    bias: str = "int64",
    per_channel: bool = True,
    act: int = 0,
    batch: int = 1,
    heavy: bool = False,
    big_bias: bool = False,
    gain: float = 1.0,
):
    out_c = in_c * multiplier
    in_s = float(rng.uniform(1e-4, 1e-3))
    ws = _scales(rng, out_c, per_channel)
    out_h = conv_output_size(padding, in_h, k_h, stride[0], dil[0])
    out_w = conv_output_size(padding, in_w, k_w, stride[1], dil[1])
    x = n.tensor(f"{name}_in", [batch, in_h, in_w, in_c], "int16", scale=in_s, zp=0)
    w_shape = [1, k_h, k_w, out_c]
    w = n.tensor(f"{name}_w", w_shape, scale=ws, zp=[0] * ws.size, data=_weights(rng, w_shape, heavy), axis=3)
    b = _bias(n, rng, f"{name}_b", bias, in_s, np.broadcast_to(ws, (out_c,)).astype(np.float32), big_bias, out_c)
    y = n.tensor(
        f"{name}_out", [batch, out_h, out_w, out_c], "int16", scale=_out_scale(rng, in_s, ws, k_h * k_w, gain), zp=0
    )
    inputs = [x, w] if b < 0 else [x, w, b]
    n.op(
        "DEPTHWISE_CONV_2D",
        inputs,
        [y],
        padding=padding,
        strideH=stride[0],
        strideW=stride[1],
        dilationHFactor=dil[0],
        dilationWFactor=dil[1],
        depthMultiplier=multiplier,
        fusedActivationFunction=act,
    )
    return x, y


def _fc_branch(
    n: Net,
    rng,
    name: str,
    depth: int,
    units: int,
    batch: int = 1,
    bias: str = "int64",
    bias_type_option: int = 0,
    per_channel: bool = True,
    act: int = 0,
    heavy: bool = False,
    big_bias: bool = False,
    gain: float = 1.0,
):
    in_s = float(rng.uniform(1e-4, 1e-3))
    ws = _scales(rng, units, per_channel)
    x = n.tensor(f"{name}_in", [batch, depth], "int16", scale=in_s, zp=0)
    w = n.tensor(
        f"{name}_w", [units, depth], scale=ws, zp=[0] * ws.size, data=_weights(rng, (units, depth), heavy), axis=0
    )
    # per tensor, TFLite checks the bias scale against input x weight scale (float32 product)
    b = _bias(n, rng, f"{name}_b", bias, in_s, ws, big_bias, units)
    y = n.tensor(f"{name}_out", [batch, units], "int16", scale=_out_scale(rng, in_s, ws, depth, gain), zp=0)
    n.op(
        "FULLY_CONNECTED",
        [x, w, b],
        [y],
        fusedActivationFunction=act,
        keepNumDims=False,
        quantizedBiasType=BIAS_TYPE_CODES.get(bias, bias_type_option),
    )
    return x, y


def _branch(n: Net, rng, name: str, kind: str, **spec):
    return {"conv": _conv_branch, "depthwise": _depthwise_branch, "fc": _fc_branch}[kind](n, rng, name, **spec)


def _common(rng) -> dict:
    heavy = bool(rng.random() < 0.25)
    return dict(
        act=int(rng.choice([0, 0, 1, 2, 3])),
        per_channel=bool(rng.random() < 0.8),
        heavy=heavy,
        big_bias=bool(rng.random() < 0.2),
        gain=float(rng.choice([0.3, 1.0, 1.0, 4.0, 40.0])),
    )


def _size(rng, k: int, dil: int) -> int:
    """An input extent the dilated window fits (VALID gives a nonempty output)."""
    effective = (k - 1) * dil + 1
    return int(rng.integers(max(effective, 2), effective + 6))


def random_conv(seed: int, count: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        k_h = int(rng.choice([1, 1, 2, 3, 3, 5]))
        k_w = int(rng.choice([k_h, k_h, 1, 2, 3]))
        groups = int(rng.choice([1, 1, 1, 2, 3]))
        f_in_c = int(rng.choice([1, 2, 3, 4, 5, 8]))
        fpg = int(rng.integers(1, 6))
        bias = str(rng.choice(["int64", "int64", "int32", "none"]))
        dil = (int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 2])))
        out.append(
            dict(
                kind="conv",
                in_h=_size(rng, k_h, dil[0]),
                in_w=_size(rng, k_w, dil[1]),
                in_c=groups * f_in_c,
                out_c=groups * fpg,
                k_h=k_h,
                k_w=k_w,
                stride=(int(rng.integers(1, 4)), int(rng.integers(1, 4))),
                dil=dil,
                padding=int(rng.choice([SAME, VALID])),
                groups=groups,
                bias=bias,
                bias_type_option=int(rng.choice([0, INT32_BIAS_TYPE])) if bias == "none" else 0,
                batch=int(rng.choice([1, 1, 1, 2])),
                **_common(rng),
            )
        )
    return out


def random_depthwise(seed: int, count: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        k_h = int(rng.choice([1, 2, 3, 3, 5]))
        k_w = int(rng.choice([k_h, k_h, 1, 3]))
        dil = (int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 2])))
        out.append(
            dict(
                kind="depthwise",
                in_h=_size(rng, k_h, dil[0]),
                in_w=_size(rng, k_w, dil[1]),
                in_c=int(rng.choice([1, 2, 3, 4, 5, 8, 9, 12])),
                multiplier=int(rng.choice([1, 1, 1, 2, 3])),
                k_h=k_h,
                k_w=k_w,
                stride=(int(rng.integers(1, 4)), int(rng.integers(1, 4))),
                dil=dil,
                padding=int(rng.choice([SAME, VALID])),
                bias=str(rng.choice(["int64", "int64", "none"])),
                batch=int(rng.choice([1, 1, 1, 2])),
                **_common(rng),
            )
        )
    return out


def random_fc(seed: int, count: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        bias = str(rng.choice(["int64", "int64", "int32", "none"]))
        out.append(
            dict(
                kind="fc",
                depth=int(rng.choice([1, 3, 4, 7, 16, 33, 100, 700])),
                units=int(rng.integers(1, 12)),
                batch=int(rng.choice([1, 1, 2, 3])),
                bias=bias,
                bias_type_option=int(rng.choice([0, INT32_BIAS_TYPE])) if bias == "none" else 0,
                **_common(rng),
            )
        )
    return out


# Corners each drawn on purpose.
FIXED = [
    # int64 sums (heavy weights, 3x3x64 taps), SAME padding, a huge int64 bias
    dict(kind="conv", in_h=5, in_w=6, in_c=64, out_c=5, k_h=3, k_w=3, heavy=True, big_bias=True),
    # requantization ratio above 1 (shift > 0) on both accumulators
    dict(kind="conv", in_h=4, in_w=4, in_c=3, out_c=4, k_h=3, k_w=3, gain=3000.0),
    dict(kind="conv", in_h=4, in_w=4, in_c=3, out_c=4, k_h=3, k_w=3, gain=3000.0, bias="int32"),
    # int32 bias whose sums wrap int32 (TFLite Micro's int32 accumulator wraps)
    dict(kind="conv", in_h=3, in_w=3, in_c=64, out_c=4, k_h=3, k_w=3, heavy=True, bias="int32", big_bias=True),
    dict(kind="conv", in_h=3, in_w=4, in_c=8, out_c=8, k_h=3, k_w=3, bias="int32", big_bias="edge"),
    dict(kind="fc", depth=40, units=8, bias="int32", big_bias="edge"),
    dict(kind="conv", in_h=6, in_w=7, in_c=8, out_c=6, k_h=3, k_w=3, groups=2, dil=(2, 1)),
    dict(kind="conv", in_h=5, in_w=5, in_c=2, out_c=3, k_h=1, k_w=1, bias="none", bias_type_option=INT32_BIAS_TYPE),
    dict(kind="depthwise", in_h=6, in_w=6, in_c=8, multiplier=1, k_h=3, k_w=3, heavy=True, big_bias=True),
    dict(kind="depthwise", in_h=7, in_w=5, in_c=6, multiplier=1, k_h=3, k_w=3, stride=(2, 2), gain=3000.0),
    dict(kind="depthwise", in_h=9, in_w=3, in_c=5, multiplier=1, k_h=5, k_w=1, dil=(2, 1), padding=VALID),
    dict(kind="depthwise", in_h=5, in_w=5, in_c=3, multiplier=4, k_h=3, k_w=3, bias="none"),
    # 576 heavy taps: int64 sums (VALID, and SAME mostly outside the input), a channel tail
    dict(kind="depthwise", in_h=26, in_w=25, in_c=5, multiplier=1, k_h=24, k_w=24, heavy=True, padding=VALID),
    dict(kind="depthwise", in_h=9, in_w=8, in_c=4, multiplier=2, k_h=24, k_w=24, heavy=True, big_bias=True),
    dict(kind="fc", depth=900, units=5, heavy=True, big_bias=True),
    dict(kind="fc", depth=601, units=4, heavy=True, bias="int32", big_bias=True),
    dict(kind="fc", depth=10, units=7, per_channel=False, bias="int32", gain=3000.0),
    dict(kind="fc", depth=13, units=6, per_channel=False, batch=4),
    dict(kind="fc", depth=5, units=3, bias="none", bias_type_option=INT32_BIAS_TYPE),
]

MODELS = {
    "fixed": (FIXED, 101),
    "conv": (random_conv(2026, 24), 102),
    "depthwise": (random_depthwise(2027, 24), 103),
    "fc": (random_fc(2028, 24), 104),
}


def _model(which: str) -> bytes:
    branches, seed = MODELS[which]
    return branches_model(_branch, branches, seed)


def _extreme_inputs(model) -> list:
    """Every input at -32768, at 32767, and alternating between the two: the largest sums."""
    g = model.graph
    shapes = [g.tensors[t].shape for t in g.inputs]
    alternating = [
        np.where(np.arange(int(np.prod(s))).reshape(s) % 2 == 0, -32768, 32767).astype(np.int16) for s in shapes
    ]
    return [[np.full(s, v, dtype=np.int16) for s in shapes] for v in (-32768, 32767)] + [alternating]


@pytest.mark.parametrize("which", sorted(MODELS))
def test_bit_exact_with_tflite_micro(which):
    data = _model(which)
    model = compile_bytes(data, f"mac16_{which}")
    funcs = {s.kernel.func for s in model.steps}
    assert funcs <= {"ec_conv2d_s16", "ec_depthwise_conv2d_s16", "ec_fully_connected_s16"}, funcs
    assert_bit_exact(data, f"mac16_{which}", samples=4, seed=len(which), extra_inputs=_extreme_inputs(model))


def test_no_undefined_behaviour_on_extreme_inputs(tmp_path):
    """The corner cases (int64 sums, huge biases, int32 wrap-around, left shifts) built with
    ASan/UBSan: clean, and equal to the plain host build."""
    from edgeconv.emit.emitter import emit
    from edgeconv.targets.hostbuild import build_and_load
    from sanitized import run_samples, sanitized_executable

    model = compile_bytes(_model("fixed"), "mac16_fixed")
    samples = _extreme_inputs(model) + random_inputs(model, 2, 11)
    run = run_samples(sanitized_executable(model, emit(model), tmp_path), model, samples, tmp_path)
    assert run.returncode == 0 and not run.report, run.report or run.stderr_tail
    host = build_and_load(model, emit(model))
    for sample, outs in zip(samples, run.outputs):
        for ours, sanitized in zip(host.run(sample), outs):
            np.testing.assert_array_equal(ours.reshape(-1), sanitized)


@pytest.mark.parametrize("which", ["conv", "depthwise"])
def test_tflite_reference_agrees_too(which):
    """TFLite's reference kernels give the same outputs as TFLite Micro (and the C) for 16x8
    CONV_2D and DEPTHWISE_CONV_2D with a bias (TFLite refuses a 16x8 CONV_2D without one).
    FULLY_CONNECTED is left out: there the two references differ by 1 with per-tensor weights
    (as in int8: the multiplier), by 1 without a bias and quantized_bias_type INT32 (TFLite Micro's
    int32 accumulator), and at opposite clamps with int64 biases near 2^40; the C follows TFLite
    Micro."""
    branches, seed = MODELS[which]
    with_bias = [b for b in branches if b.get("bias", "int64") != "none" or b["kind"] == "depthwise"]
    report = validate_bytes(branches_model(_branch, with_bias, seed), f"mac16_ref_{which}", samples=3, seed=5)
    assert report.bit_exact and "tflite_ref" in report.references, report.notes
    assert report.reference_disagreements == 0 and report.mismatches_vs_tflite_ref == 0, report.to_dict()


def test_randomized_cases_cover_both_sum_widths_and_accumulators():
    """The random and fixed branches reach every kernel variant: int32 and int64 sums, the int32
    and int64 TFLite accumulators."""
    seen = set()
    for which in MODELS:
        for s in compile_bytes(_model(which), which).steps:
            p = s.kernel.params
            seen.add((s.kernel.func, p["sum32"], p.get("acc32", 0)))
    for func in ("ec_conv2d_s16", "ec_fully_connected_s16"):
        assert {(func, a, b) for a in (0, 1) for b in (0, 1)} <= seen, seen
    assert {("ec_depthwise_conv2d_s16", a, 0) for a in (0, 1)} <= seen, seen


@pytest.mark.parametrize("which", sorted(MODELS))
def test_dsp_path_equals_portable_path_on_cortex_m4(which):
    model = compile_bytes(_model(which), f"mac16_{which}")
    assert_dsp_equals_portable(model, random_inputs(model, 3, 7))


# ---------------------------------------------------------------------------------------------
# The converter's 16x8 models


def _keras_cases():
    import tensorflow as tf

    class Layers:
        """tf.keras.layers with random biases (Keras starts them at 0, and the converter then
        drops a Dense bias)."""

        def __getattr__(self, name):
            layer = getattr(tf.keras.layers, name)

            def make(*args, **kwargs):
                kwargs.setdefault("bias_initializer", tf.keras.initializers.RandomNormal(stddev=0.5))
                return layer(*args, **kwargs)

            return make

    L = Layers()

    def conv2d():
        x = tf.keras.Input((9, 8, 3), batch_size=1)
        h = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        h = L.Conv2D(6, 3, strides=2, dilation_rate=1)(h)
        h = L.Conv2D(4, 3, padding="same", dilation_rate=2, use_bias=False)(h)
        return tf.keras.Model(x, h)

    def grouped():
        x = tf.keras.Input((7, 7, 8), batch_size=1)
        return tf.keras.Model(x, L.Conv2D(6, 3, padding="same", groups=2, activation="relu6")(x))

    def conv1d():
        x = tf.keras.Input((20, 5), batch_size=1)
        h = L.Conv1D(8, 5, padding="same", activation="relu")(x)
        return tf.keras.Model(x, L.Conv1D(4, 3, strides=2)(h))

    def depthwise():
        x = tf.keras.Input((10, 9, 6), batch_size=1)
        h = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        h = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2)(h)
        return tf.keras.Model(x, L.DepthwiseConv2D((5, 1), dilation_rate=(2, 1), padding="same")(h))

    def separable():
        x = tf.keras.Input((9, 9, 4), batch_size=1)
        h = L.SeparableConv2D(8, 3, padding="same", activation="relu")(x)
        return tf.keras.Model(x, L.SeparableConv2D(5, 3, strides=2, depth_multiplier=2)(h))

    def dense():
        x = tf.keras.Input((37,), batch_size=1)
        h = L.Dense(20, activation="relu")(x)
        h = L.Dense(11, use_bias=False)(h)
        return tf.keras.Model(x, L.Dense(5)(h))

    # Same shape as frontend/test_shapes.py's BAD table (name -> (builder, what)); kept apart: different cases
    return {
        "conv2d": (conv2d, "CONV_2D"),
        "grouped": (grouped, "CONV_2D"),
        "conv1d": (conv1d, "CONV_2D"),
        "depthwise": (depthwise, "DEPTHWISE_CONV_2D"),
        "separable": (separable, "DEPTHWISE_CONV_2D"),
        "dense": (dense, "FULLY_CONNECTED"),
    }


KERAS = ["conv1d", "conv2d", "dense", "depthwise", "grouped", "separable"]


@pytest.mark.parametrize("name", KERAS)
def test_converter_16x8_models(name):
    seed = 300 + KERAS.index(name)

    def build():
        build_model, _ = _keras_cases()[name]
        seeded_keras(seed)
        return tflite_from_keras(build_model(), seed=seed, mode="16x8")

    data = cached_model({"op": "mac16_keras", "name": name, "seed": seed, "bias": "random"}, build)
    expect = {
        "conv1d": "CONV_2D",
        "conv2d": "CONV_2D",
        "grouped": "CONV_2D",
        "dense": "FULLY_CONNECTED",
        "depthwise": "DEPTHWISE_CONV_2D",
        "separable": "DEPTHWISE_CONV_2D",
    }[name]
    graph = read_tflite_bytes(data)
    ops = [op for op in graph.ops if op.opcode == expect]
    assert ops, f"{name}: the converter emitted {[op.opcode for op in graph.ops]}, no {expect}"
    assert all(graph.tensors[op.inputs[0]].dtype == "int16" for op in ops), f"{name}: not a 16x8 model"
    assert_bit_exact(data, f"mac16_keras_{name}", samples=6, seed=seed)


# ---------------------------------------------------------------------------------------------
# Refusals


def _one_conv(x_zp: int = 0, y_zp: int = 0, bias: str = "int64", kind: str = "conv", out_scale: float = 0.01) -> bytes:
    rng = np.random.default_rng(5)
    n = Net()
    x = n.tensor("in", [1, 4, 4, 2], "int16", scale=1e-3, zp=x_zp)
    if kind == "conv":
        w = n.tensor("w", [3, 3, 3, 2], scale=[0.01] * 3, zp=[0] * 3, data=rng.integers(-127, 128, (3, 3, 3, 2)))
    else:
        w = n.tensor(
            "w", [1, 3, 3, 2], scale=[0.01] * 2, zp=[0] * 2, data=rng.integers(-127, 128, (1, 3, 3, 2)), axis=3
        )
    c = 3 if kind == "conv" else 2
    b = n.tensor("b", [c], bias, scale=[1e-5] * c, zp=[0] * c, data=rng.integers(-99, 99, c))
    y = n.tensor("out", [1, 4, 4, c], "int16", scale=out_scale, zp=y_zp)
    common = dict(padding=SAME, strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1)
    if kind == "conv":
        n.op("CONV_2D", [x, w, b], [y], **common)
    else:
        n.op("DEPTHWISE_CONV_2D", [x, w, b], [y], depthMultiplier=1, **common)
    return n.finish([x], [y])


@pytest.mark.parametrize(
    "case, words",
    [
        (dict(x_zp=3), "zero point 3"),
        (dict(y_zp=-1), "zero point -1"),
        (dict(kind="depthwise", bias="int32"), "INT32"),
        (dict(out_scale=1e-12), "requantization multiplier"),
    ],
)
def test_refusals(case, words):
    with pytest.raises(ModelError, match=words):
        compile_bytes(_one_conv(**case), "refused")


# ---------------------------------------------------------------------------------------------
# ec_requantize_s64 against TFLite's MultiplyByQuantizedMultiplier(int64_t, ...), transcribed


def _tflite_mbqm64(x: int, m: int, shift: int) -> int:
    reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
    total = 15 - shift
    r = (x * reduced + (1 << (total - 1))) >> total
    return (r + (1 << 31)) % (1 << 32) - (1 << 31)  # static_cast<int32_t>


# Its gcc line is like emit/test_header.py's section-macro build, but host gcc: each test spells out its whole
# command line, so a failure reads without a helper
def test_requantize_s64_matches_tflite(tmp_path):
    src = tmp_path / "t.c"
    src.write_text(
        '#include <stdio.h>\n#include "ec_fixedpoint.h"\nint main(void) {\n'
        "    long long x; long m; int s;\n"
        '    while (scanf("%lld %ld %d", &x, &m, &s) == 3)\n'
        '        printf("%ld\\n", (long)ec_requantize_s64((int64_t)x, (int32_t)m, s));\n    return 0;\n}\n'
    )
    exe = tmp_path / "t"
    subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            f"-I{runtime_dir()}",
            str(src),
            "-o",
            str(exe),
        ],
        check=True,
    )
    rng = np.random.default_rng(64)
    rows = []
    for i in range(20000):
        x = int(rng.integers(-(1 << 47), 1 << 47)) if i % 2 else int(rng.integers(-(1 << 24), 1 << 24))
        m = int(rng.integers(1 << 30, 1 << 31)) if i % 5 else int(rng.choice([0, 0x7FFEFFFF, 0x7FFF0000, 0x7FFFFFFF]))
        rows.append((x, m, int(rng.integers(-31, 15))))
    rows += [(-(1 << 47), 0x7FFFFFFF, -31), ((1 << 47) - 1, 1 << 30, 14), (-1, 1 << 30, -31), (0, 0, 0)]
    out = subprocess.run(
        [str(exe)], input="\n".join(f"{x} {m} {s}" for x, m, s in rows), capture_output=True, text=True, check=True
    ).stdout.split()
    bad = [(r, int(o)) for r, o in zip(rows, out) if int(o) != _tflite_mbqm64(*r)]
    assert len(out) == len(rows) and not bad, bad[:5]
