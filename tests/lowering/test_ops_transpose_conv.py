"""TRANSPOSE_CONV, int8 and 16x8: bit-exact with TFLite Micro.

Randomized one-op models built directly (tests/mutants.Net): kernel sizes, strides, SAME and
VALID, output sizes the kernel does not cover exactly, channels, batches, bias or none (int32;
int64 or int16 for 16x8), per-tensor or per-channel weight scales, zero points, fused
activations. Several independent ops share one model so that one build checks many cases.
Plus the converter's own forms (Keras Conv2DTranspose, int8 and 16x8), and the refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.checking.validation import validate_bytes
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops.transpose_conv import transpose_conv_padding
from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_keras
from mutants import Net

SAME, VALID = 0, 1


def add_transpose_conv(
    n: Net, inputs: list[int], outputs: list[int], padding: int, stride_h: int, stride_w: int, activation: int = 0
) -> None:
    n.op(
        "TRANSPOSE_CONV",
        inputs,
        outputs,
        padding=padding,
        strideH=stride_h,
        strideW=stride_w,
        fusedActivationFunction=activation,
    )


def random_case(rng: np.random.Generator, s16: bool) -> dict:
    k_h, k_w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    stride_h, stride_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    in_h, in_w = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    padding = int(rng.integers(0, 2))

    def out_size(n_in, k, s):
        exact = n_in * s if padding == SAME else (n_in - 1) * s + k
        # now and then a size the kernel does not cover exactly (TFLite takes any output_shape)
        return max(1, exact + (int(rng.integers(-2, 3)) if rng.random() < 0.3 else 0))

    return dict(
        s16=s16,
        batches=int(rng.integers(1, 3)) if rng.random() < 0.25 else 1,
        in_h=in_h,
        in_w=in_w,
        in_c=int(rng.integers(1, 10)),
        out_c=int(rng.integers(1, 10)),
        k_h=k_h,
        k_w=k_w,
        stride_h=stride_h,
        stride_w=stride_w,
        padding=padding,
        out_h=out_size(in_h, k_h, stride_h),
        out_w=out_size(in_w, k_w, stride_w),
        per_channel=bool(rng.random() < 0.7),
        bias=str(
            rng.choice(
                ["none", "main", "int16"] if s16 else ["none", "main"], p=[0.25, 0.6, 0.15] if s16 else [0.3, 0.7]
            )
        ),
        activation=int(rng.choice([0, 1, 3], p=[0.6, 0.25, 0.15])),
        seed=int(rng.integers(0, 2**31)),
    )


def add_case(n: Net, c: dict, tag: str) -> tuple[int, int]:
    rng = np.random.default_rng(c["seed"])
    dt = "int16" if c["s16"] else "int8"
    in_scale = float(rng.uniform(0.002, 0.05)) / (256 if c["s16"] else 1)
    in_zp = 0 if c["s16"] else int(rng.integers(-128, 128))
    out_c, in_c, k_h, k_w = c["out_c"], c["in_c"], c["k_h"], c["k_w"]
    w_scales = rng.uniform(0.002, 0.03, size=out_c) if c["per_channel"] else np.array([rng.uniform(0.002, 0.03)])
    w_scales = w_scales.astype(np.float32)
    wdata = rng.integers(-127, 128, size=(out_c, k_h, k_w, in_c))
    taps = -(-k_h // max(c["stride_h"], 1)) * -(-k_w // max(c["stride_w"], 1))
    # an output scale that spreads typical sums over most of the output range
    spread = (32767 if c["s16"] else 127) * 0.6
    acc_std = (2**15 if c["s16"] else 128) / np.sqrt(3) * 73 * np.sqrt(taps * in_c)
    out_scale = float(in_scale * np.mean(w_scales) * acc_std / spread * rng.uniform(0.5, 2.0))
    out_zp = 0 if c["s16"] else int(rng.integers(-100, 100))
    x = n.tensor(f"{tag}_input", [c["batches"], c["in_h"], c["in_w"], in_c], dt, scale=in_scale, zp=in_zp)
    out_shape = [c["batches"], c["out_h"], c["out_w"], out_c]
    shape_t = n.tensor(f"{tag}_output_shape", [4], "int32", data=out_shape)
    w = n.tensor(
        f"{tag}_weights", [out_c, k_h, k_w, in_c], "int8", scale=w_scales, zp=[0] * len(w_scales), data=wdata, axis=0
    )
    ins = [shape_t, w, x]
    if c["bias"] != "none":
        bscale = (np.float32(in_scale) * np.broadcast_to(w_scales, (out_c,))).astype(np.float32)
        lim = int(acc_std * 2)
        if c["bias"] == "int16":
            b = n.tensor(
                f"{tag}_bias",
                [out_c],
                "int16",
                scale=bscale,
                zp=[0] * out_c,
                data=rng.integers(-32768, 32768, size=out_c),
            )
        else:
            b = n.tensor(
                f"{tag}_bias",
                [out_c],
                "int64" if c["s16"] else "int32",
                scale=bscale,
                zp=[0] * out_c,
                data=rng.integers(-lim, lim + 1, size=out_c),
            )
        ins.append(b)
    y = n.tensor(f"{tag}_output", out_shape, dt, scale=out_scale, zp=out_zp)
    add_transpose_conv(n, ins, [y], c["padding"], c["stride_h"], c["stride_w"], c["activation"])
    return x, y


def model_of(cases: list[dict]) -> bytes:
    n = Net()
    ios = [add_case(n, c, f"c{i}") for i, c in enumerate(cases)]
    return n.finish([x for x, _ in ios], [y for _, y in ios])


# 4 ops per model; 10 int8 models and 6 16x8 models: 64 randomized cases.
PER_MODEL = 4


@pytest.mark.parametrize("s16,group", [(False, g) for g in range(10)] + [(True, g) for g in range(6)])
def test_random_transpose_conv(s16, group):
    rng = np.random.default_rng(1000 * int(s16) + group)
    cases = [random_case(rng, s16) for _ in range(PER_MODEL)]
    data = model_of(cases)
    assert [op.opcode for op in read_tflite_bytes(data).ops] == ["TRANSPOSE_CONV"] * PER_MODEL
    report = assert_bit_exact(data, f"tconv_{'s16' if s16 else 's8'}_{group}", samples=4, seed=group)
    # TFLite's reference refuses output sizes its forward-convolution check does not give back
    # the input size from (TFLite Micro runs them); where it runs, it agrees.
    assert report.mismatches_vs_tflite_ref in (None, 0)


def stress_model() -> bytes:
    """Extreme weights, zero points and biases near the proven bounds."""
    n = Net()
    ios = []
    for i, (dt, zp) in enumerate((("int8", -128), ("int8", 127), ("int16", 0))):
        in_c, k = 24, 3
        x = n.tensor(f"x{i}", [1, 3, 3, in_c], dt, scale=0.01, zp=zp)
        w = n.tensor(
            f"w{i}",
            [2, k, k, in_c],
            "int8",
            scale=[0.01, 0.02],
            zp=[0, 0],
            axis=0,
            data=np.where(np.arange(2 * k * k * in_c).reshape(2, k, k, in_c) % 2, 127, -127),
        )
        shape = n.tensor(f"s{i}", [4], "int32", data=[1, 5, 5, 2])
        bt = "int64" if dt == "int16" else "int32"
        b = n.tensor(f"b{i}", [2], bt, scale=[1e-4, 2e-4], zp=[0, 0], data=[2_000_000, -1_500_000])
        y = n.tensor(f"y{i}", [1, 5, 5, 2], dt, scale=200.0 if dt == "int8" else 2.0, zp=3 if dt == "int8" else 0)
        add_transpose_conv(n, [shape, w, x, b], [y], SAME, 2, 2)
        ios.append((x, y))
    # 16x8 with one tap's sum beyond int32 (2^15 * 127 * 600 > 2^31): the kernel's int64 path
    x = n.tensor("x_wide", [1, 2, 2, 600], "int16", scale=0.01, zp=0)
    w = n.tensor(
        "w_wide",
        [4, 2, 2, 600],
        "int8",
        scale=[0.01] * 4,
        zp=[0] * 4,
        axis=0,
        data=np.where(np.arange(4 * 2 * 2 * 600).reshape(4, 2, 2, 600) % 3, 127, -127),
    )
    shape = n.tensor("s_wide", [4], "int32", data=[1, 4, 4, 4])
    y = n.tensor("y_wide", [1, 4, 4, 4], "int16", scale=30.0, zp=0)
    add_transpose_conv(n, [shape, w, x], [y], SAME, 2, 2)
    ios.append((x, y))
    return n.finish([x for x, _ in ios], [y for _, y in ios])


def test_accumulator_stress():
    """Extreme weights, zero points and biases near the proven bound still equal TFLite Micro."""
    data = stress_model()
    model = compile_bytes(data, "tconv_stress")
    # int8 layers leave tap_sum32 0 (their kernel never reads it); the int16 ones sum in int32 where
    # the bound allows (1) and in int64 where it does not (0)
    assert [(s.kernel.func, s.kernel.params["tap_sum32"]) for s in model.steps] == [
        ("ec_transpose_conv_s8", 0),
        ("ec_transpose_conv_s8", 0),
        ("ec_transpose_conv_s16", 1),
        ("ec_transpose_conv_s16", 0),
    ]
    assert_bit_exact(data, "tconv_stress", samples=6, seed=3)


def test_padding_matches_tflite_micro():
    """TFLite Micro's checked padding: VALID with a kernel far larger than the output gives 0
    on both axes; otherwise the forward-convolution padding of the output size."""
    assert transpose_conv_padding(SAME, 8, 8, 3, 3, 2, 2) == (0, 0)  # total 1 -> 0
    assert transpose_conv_padding(SAME, 8, 8, 4, 4, 2, 2) == (1, 1)
    assert transpose_conv_padding(SAME, 9, 6, 5, 1, 3, 1) == (1, 0)
    assert transpose_conv_padding(VALID, 1, 8, 6, 3, 3, 1) == (1, 0)  # (1 + 3 - 6) / 3 truncates to 0
    assert transpose_conv_padding(VALID, 1, 8, 8, 3, 3, 1) == (0, 0)  # -4 / 3 -> -1: TFLM's error path
    assert transpose_conv_padding(VALID, 8, 1, 3, 8, 1, 3) == (0, 0)  # width fails: both 0


# ---------------------------------------------------------------------------------------------
# The converter's forms

KERAS_CASES = {
    # name: (input shape, filters, kernel, strides, padding, use_bias, activation, mode)
    "s2_same_bias_relu": ((1, 5, 6, 3), 4, 3, 2, "same", True, "relu", "int8"),
    "s1_valid_nobias": ((1, 6, 5, 4), 3, 3, 1, "valid", False, None, "int8"),
    "s3_valid_k2x4": ((1, 4, 3, 2), 5, (2, 4), 3, "valid", True, None, "int8"),
    "s2_same_16x8": ((1, 5, 4, 3), 4, 3, 2, "same", True, "relu", "16x8"),
    "s3_valid_nobias_16x8": ((1, 3, 4, 2), 3, 4, (3, 2), "valid", False, None, "16x8"),
}


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_keras_conv2d_transpose(name):
    import tensorflow as tf

    shape, filters, kernel, strides, padding, use_bias, act, mode = KERAS_CASES[name]
    seed = 300 + sorted(KERAS_CASES).index(name)

    def build():
        seeded_keras(seed)
        x = tf.keras.Input(shape[1:], batch_size=1)
        h = tf.keras.layers.Conv2D(shape[-1], 1)(x)  # input quantization unlike the model input's
        y = tf.keras.layers.Conv2DTranspose(
            filters,
            kernel,
            strides=strides,
            padding=padding,
            use_bias=use_bias,
            activation=act,
            bias_initializer=tf.keras.initializers.RandomNormal(0, 0.3),
        )(h)
        return tflite_from_keras(tf.keras.Model(x, y), seed=seed, mode=mode)

    data = cached_model({"op": "transpose_conv_keras", "name": name, "case": repr(KERAS_CASES[name])}, build)
    ops = [op.opcode for op in read_tflite_bytes(data).ops]
    assert "TRANSPOSE_CONV" in ops, f"{name}: the converter emitted {ops}"
    assert_bit_exact(data, f"tconv_keras_{name}", samples=6, seed=seed)


@pytest.mark.parametrize("mode", ["int8", "16x8"])
def test_keras_dynamic_batch(mode):
    """keras.Input without a batch size: the converter computes output_shape at run time
    (SHAPE -> STRIDED_SLICE -> PACK), which shape inference folds to a constant."""
    import tensorflow as tf

    seed = 320 + (mode == "16x8")

    def build():
        seeded_keras(seed)
        x = tf.keras.Input((5, 6, 3))
        h = tf.keras.layers.Conv2D(4, 3, padding="same")(x)
        h = tf.keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(h)
        y = tf.keras.layers.Conv2DTranspose(2, 2, strides=2, padding="valid")(h)
        return tflite_from_keras(tf.keras.Model(x, y), seed=seed, mode=mode)

    data = cached_model({"op": "transpose_conv_keras_dynamic", "mode": mode, "seed": seed}, build)
    ops = [op.opcode for op in read_tflite_bytes(data).ops]
    assert ops.count("TRANSPOSE_CONV") == 2 and "SHAPE" in ops, f"the converter emitted {ops}"
    assert_bit_exact(data, f"tconv_keras_dynamic_{mode}", samples=6, seed=seed)


# ---------------------------------------------------------------------------------------------
# Refusals: one line naming the op


# Its name=value lines only look like the n.op(...) options of mutants.py, test_api.py, test_op_oracle.py and
# test_int16_elementwise.py and the dicts of test_validation.py's _report and test_opchecks.py: a shape match,
# no shared code to pull out (each list names its own fields)
def _one_op(**change) -> bytes:
    c = dict(
        s16=False,
        batches=1,
        in_h=3,
        in_w=3,
        in_c=2,
        out_c=2,
        k_h=3,
        k_w=3,
        stride_h=2,
        stride_w=2,
        padding=SAME,
        out_h=6,
        out_w=6,
        per_channel=True,
        bias="main",
        activation=0,
        seed=5,
    )
    c.update(change)
    return model_of([c])


def test_refuses_16x8_int32_bias():
    n = Net()
    x = n.tensor("x", [1, 2, 2, 1], "int16", scale=0.001, zp=0)
    w = n.tensor("w", [1, 2, 2, 1], "int8", scale=[0.01], zp=[0], data=[1, 2, 3, 4], axis=0)
    s = n.tensor("s", [4], "int32", data=[1, 4, 4, 1])
    b = n.tensor("b", [1], "int32", scale=[1e-5], zp=[0], data=[7])
    y = n.tensor("y", [1, 4, 4, 1], "int16", scale=0.001, zp=0)
    add_transpose_conv(n, [s, w, x, b], [y], SAME, 2, 2)
    with pytest.raises(ModelError, match="TRANSPOSE_CONV.*INT32"):
        compile_bytes(n.finish([x], [y]), "bad")


def test_output_shape_input_wins_over_the_stored_shape():
    """TFLite sizes the output from output_shape, TFLite Micro runs the stored shape: edgeconv
    infers TFLite's (edgeconv/frontend/shapes.py), and validation compares with that shape."""
    import mutants

    m = mutants.unpack(_one_op())
    shape_t = [t for t in m.subgraphs[0].tensors if t.name == b"c0_output_shape"][0]
    m.buffers[shape_t.buffer].data = np.frombuffer(np.array([1, 5, 6, 2], np.int32).tobytes(), np.uint8).copy()
    data = mutants.pack(m)
    model = compile_bytes(data, "tconv_shape")
    assert list(model.graph.tensors[model.graph.outputs[0]].shape) == [1, 5, 6, 2]
    report = validate_bytes(data, "tconv_shape", samples=3, seed=2)
    assert report.bit_exact and report.mismatches_vs_tflite_ref == 0, report.notes


def test_refuses_missing_options_and_zero_stride():
    with pytest.raises(ModelError, match="stride_h is 0"):
        compile_bytes(_one_op(stride_h=0), "bad")


# ---------------------------------------------------------------------------------------------
# The DSP path (SMLAD / SMLALD) equals the portable one on an emulated Cortex-M4; no UB


def mixed_model() -> bytes:
    rng = np.random.default_rng(77)
    cases = [random_case(rng, s16) for s16 in (False, False, True, True, True)]
    cases[0].update(in_c=9, k_h=3, k_w=3, stride_h=2, stride_w=2)  # int8 dot: 2 words + 1
    cases[2].update(in_c=7, k_h=4, k_w=3, stride_h=2, stride_w=1)  # 16x8 quads: 1 + 3
    cases[3].update(in_c=8, k_h=2, k_w=2, stride_h=2, stride_w=2)
    return model_of(cases)


def test_dsp_equals_portable_on_cortex_m4():
    from edgeconv.checking.validation import random_inputs
    from fastpaths import assert_dsp_equals_portable

    data = mixed_model()
    assert_bit_exact(data, "tconv_mixed", samples=4, seed=4)
    for name, model_data in (("tconv_mixed", data), ("tconv_stress", stress_model())):
        model = compile_bytes(model_data, name)
        assert_dsp_equals_portable(model, random_inputs(model, 4, 5), "cortex-m4")


def test_sanitizers_clean(tmp_path):
    """Extreme inputs (all minimum, all maximum, zero) under ASan/UBSan, equal to the host
    build: TRANSPOSE_CONV and BATCH_MATMUL (one test: the sanitized runtime is built once)."""
    import test_ops_batch_matmul

    from edgeconv.emit.emitter import emit
    from edgeconv.targets.hostbuild import build_and_load
    from sanitized import run_samples, sanitized_executable

    for name, data in (("tconv_mixed", mixed_model()), ("bmm_mixed", test_ops_batch_matmul.mixed_model())):
        model = compile_bytes(data, name)
        g = model.graph
        samples = [
            [np.full(g.tensors[t].shape, v(g.tensors[t].dtype)) for t in g.inputs]
            for v in (lambda d: np.iinfo(d).min, lambda d: np.iinfo(d).max, lambda d: 0)
        ]
        work = tmp_path / name
        run = run_samples(sanitized_executable(model, emit(model), work), model, samples, work)
        assert run.returncode == 0 and not run.report, run.report or run.stderr_tail
        host = build_and_load(model, emit(model))
        for sample, outs in zip(samples, run.outputs):
            for ours, theirs in zip(outs, host.run(sample)):
                np.testing.assert_array_equal(ours, np.asarray(theirs).reshape(-1), err_msg=name)


@pytest.mark.parametrize("value", [-(2**63), 2**63 - 1, 2**47])
def test_refuses_16x8_bias_beyond_the_2_47_bound(value):
    """TFLite's 64-bit requantization assumes |acc| < 2^47; a bias near the int64 limits would
    also overflow the int64 sum (found by the hostile mutator: |INT64_MIN| is not an int64)."""
    n = Net()
    x = n.tensor("x", [1, 2, 2, 1], "int16", scale=0.001, zp=0)
    w = n.tensor("w", [1, 2, 2, 1], "int8", scale=[0.01], zp=[0], data=[1, 2, 3, 4], axis=0)
    s = n.tensor("s", [4], "int32", data=[1, 4, 4, 1])
    b = n.tensor("b", [1], "int64", scale=[1e-5], zp=[0], data=[value])
    y = n.tensor("y", [1, 4, 4, 1], "int16", scale=0.001, zp=0)
    add_transpose_conv(n, [s, w, x, b], [y], SAME, 2, 2)
    with pytest.raises(ModelError, match="TRANSPOSE_CONV.*2\\^47"):
        compile_bytes(n.finish([x], [y]), "bad")


def test_refuses_what_tflite_prepare_refuses():
    """opchecks.RULES: no options table (both references run strides 0), output_shape not a
    1-D INT32 tensor."""
    import mutants

    m = mutants.unpack(_one_op())
    m.subgraphs[0].operators[0].builtinOptionsType = 0
    m.subgraphs[0].operators[0].builtinOptions = None
    with pytest.raises(ModelError, match="TRANSPOSE_CONV.*has no TransposeConvOptions"):
        compile_bytes(mutants.pack(m), "bad")
    m = mutants.unpack(_one_op())
    shape_t = [t for t in m.subgraphs[0].tensors if t.name == b"c0_output_shape"][0]
    shape_t.type = mutants.type_code("int64")
    m.buffers[shape_t.buffer].data = np.frombuffer(np.array([1, 6, 6, 2], np.int64).tobytes(), np.uint8).copy()
    with pytest.raises(ModelError, match="TRANSPOSE_CONV.*INT32"):
        compile_bytes(mutants.pack(m), "bad")
