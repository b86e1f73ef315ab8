"""Parity of REDUCE_MAX, REDUCE_MIN, SUM, MEAN (int8 and int16) and ARG_MAX / ARG_MIN.

Randomized one-op models built with tests/mutants.Net (seeded: shapes of rank 1-5, axes with
negative and duplicate entries, keep_dims, scales, zero points), each model holding several
independent ops, plus models from the TFLite converter (GlobalMaxPooling1D/2D, tf.reduce_sum,
tf.reduce_min, tf.argmax/argmin, GlobalAveragePooling in 16x8). Every output element must equal
the oracle: TFLite Micro where it runs the op and type, TFLite's reference kernels where
TFLite Micro lacks the type (REDUCE_MAX/MIN int16, ARG_MAX/MIN with an INT64 output or axis);
each case asserts which oracle it was measured against.
Extremes (a SUM of 90000 int16 values whose int32 sum wraps, a rescale needing a left shift of
21, type limits) are also run on min/max/zero/alternating inputs and built with ASan/UBSan.
"""

import numpy as np
import pytest

import mutants
from edgeconv.checking.validation import Sample, validate_bytes
from modelgen import (
    assert_exact_vs,
    cached_model,
    opcodes,
    oracle_is,
    seeded_keras,
    tflite_from_function,
    tflite_from_keras,
)
from mutants import Net
from sanitized import sanitized_equal

for _name, _member in {
    "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions",
    "ARG_MAX": "ArgMaxOptions",
    "ARG_MIN": "ArgMinOptions",
    "EQUAL": "EqualOptions",
    "SELECT_V2": "SelectV2Options",
}.items():
    mutants.OPTIONS_OF.setdefault(_name, _member)


def few_values(specs):
    """Two samples drawn from 3 values: many ties (ARG_MAX/MIN keep the first index)."""
    rng = np.random.default_rng(7)
    info = {"int8": (-1, 2), "int16": (-1, 2)}
    return [
        Sample(
            [rng.integers(*info.get(sp.dtype, (0, 3)), size=sp.shape).astype(sp.dtype) for sp in specs],
            f"few values {i}",
        )
        for i in range(2)
    ]


def check(data: bytes, label: str, oracle: str = "tflm", seed: int = 0, samples: int = 6, extra_inputs=None):
    return assert_exact_vs(oracle, data, label, samples=samples, seed=seed, extra_inputs=extra_inputs)


def random_axes(rng, rank: int) -> list[int]:
    """A nonempty list of axes in [-rank, rank), some negative, sometimes with a duplicate."""
    k = int(rng.integers(1, rank + 1))
    axes = [int(a) for a in rng.choice(rank, size=k, replace=False)]
    axes = [a - rank if rng.random() < 0.4 else a for a in axes]
    if rng.random() < 0.25:
        axes.append(axes[0] - rank if axes[0] >= 0 else axes[0] + rank)  # the same axis again
    return axes


def reduced_shape(shape: list[int], axes: list[int], keep: bool) -> list[int]:
    rank = len(shape)
    res = {a % rank for a in axes}
    if keep:
        return [1 if i in res else d for i, d in enumerate(shape)]
    return [d for i, d in enumerate(shape) if i not in res]


# ---------------------------------------------------------------------------------------------
# REDUCE_MAX / REDUCE_MIN / SUM / MEAN: randomized Net models

REDUCE_OPS = 6  # independent ops per model


def reduce_model(opname: str, dtype: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k in range(REDUCE_OPS):
        rank = int(rng.integers(1, 6))
        shape = [int(d) for d in rng.integers(1, 7, size=rank)]
        axes = random_axes(rng, rank)
        keep = bool(rng.random() < 0.5)
        count = int(np.prod([shape[a % rank] for a in {a % rank for a in axes}]))
        in_s = float(rng.uniform(0.005, 0.2))
        in_zp = int(rng.integers(-60, 60)) if dtype == "int8" else 0
        if opname in ("REDUCE_MAX", "REDUCE_MIN"):
            out_s, out_zp = in_s, in_zp
        elif opname == "SUM":
            out_s = in_s * float(rng.uniform(0.3, 2.0)) * np.sqrt(count)
            out_zp = int(rng.integers(-40, 40)) if dtype == "int8" else 0
        else:
            out_s = in_s * float(rng.uniform(0.4, 1.6))
            out_zp = int(rng.integers(-40, 40)) if dtype == "int8" else int(rng.integers(-3, 4))
        x = n.tensor(f"x{k}", shape, dtype, scale=in_s, zp=in_zp)
        a = n.tensor(f"axis{k}", [len(axes)], "int32", data=axes)
        y = n.tensor(f"y{k}", reduced_shape(shape, axes, keep), dtype, scale=out_s, zp=out_zp)
        n.op(opname, [x, a], [y], keepDims=keep)
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


REDUCE_SEEDS = range(3)


@pytest.mark.parametrize("seed", REDUCE_SEEDS)
@pytest.mark.parametrize("opname", ["REDUCE_MAX", "REDUCE_MIN", "SUM", "MEAN"])
def test_reduce_int8_random(opname, seed):
    check(reduce_model(opname, "int8", 100 * seed + len(opname)), f"{opname.lower()}_s8_{seed}", "tflm", seed)


@pytest.mark.parametrize("seed", REDUCE_SEEDS)
@pytest.mark.parametrize("opname", ["REDUCE_MAX", "REDUCE_MIN", "SUM", "MEAN"])
def test_reduce_int16_random(opname, seed):
    # TFLite Micro runs SUM and MEAN in int16; REDUCE_MAX/MIN only in int8 (TFLite's reference).
    oracle = "tflm" if opname in ("SUM", "MEAN") else "tflite_ref"
    check(reduce_model(opname, "int16", 100 * seed + len(opname) + 7), f"{opname.lower()}_s16_{seed}", oracle, seed)


# ---------------------------------------------------------------------------------------------
# ARG_MAX / ARG_MIN: randomized


def arg_model(
    seed: int,
    out_dtype: str = "int32",
    axis_dtype: str = "int32",
    opnames=("ARG_MAX", "ARG_MIN"),
    then_equal: bool = False,
) -> bytes:
    """Independent ARG_MAX/ARG_MIN ops on int8. With then_equal, each index is compared with a
    constant (EQUAL) whose bool picks between two int8 inputs (SELECT_V2), so that INT64
    indices, which a model cannot output here, are checked too."""
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k in range(4):
        opname = opnames[k % len(opnames)]
        rank = int(rng.integers(1, 6))
        shape = [int(d) for d in rng.integers(1, 7, size=rank)]
        axis = int(rng.integers(-rank, rank))
        if k == 3:
            shape[axis] = 40  # a long axis: ties on random int8 data too
        out_shape = [d for i, d in enumerate(shape) if i != axis % rank]
        x = n.tensor(f"x{k}", shape, "int8", scale=0.02, zp=int(rng.integers(-10, 10)))
        a = n.tensor(f"axis{k}", [1], axis_dtype, data=[axis])
        y = n.tensor(f"index{k}", out_shape, out_dtype)
        options = {"outputType": mutants.type_code(out_dtype)}
        n.op(opname, [x, a], [y], **options)
        ins.append(x)
        if not then_equal:
            outs.append(y)
            continue
        c = n.tensor(f"k{k}", [1], out_dtype, data=[int(rng.integers(0, 3))])
        b = n.tensor(f"is_k{k}", out_shape, "bool")
        n.op("EQUAL", [y, c], [b])
        p = n.tensor(f"p{k}", out_shape, "int8", scale=0.1, zp=0)
        q = n.tensor(f"q{k}", out_shape, "int8", scale=0.1, zp=0)
        o = n.tensor(f"out{k}", out_shape, "int8", scale=0.1, zp=0)
        n.op("SELECT_V2", [b, p, q], [o])
        ins += [p, q]
        outs.append(o)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(4))
def test_arg_min_max_random(seed):
    check(arg_model(800 + seed), f"arg_min_max_{seed}", "tflm", seed, extra_inputs=few_values)


@pytest.mark.parametrize("seed", range(2))
def test_arg_min_max_int64_random(seed):
    # INT64 indices: TFLite Micro refuses them (and an INT64 axis); TFLite's reference runs them.
    check(
        arg_model(850 + seed, out_dtype="int64", axis_dtype="int64", then_equal=True),
        f"arg_min_max_i64_{seed}",
        "tflite_ref",
        seed,
        extra_inputs=few_values,
    )


def test_arg_output_type_ignored_for_int32():
    # TFLite Micro types the indices from the tensor (INT32) and ignores output_type INT64.
    check(
        one_op("ARG_MAX", "int8", (0.1, 0), None, "int32", outputType=4),
        "arg_option_int64_tensor_int32",
        "tflm",
        0,
        extra_inputs=few_values,
    )


def test_arg_max_int32_then_equal():
    # The same chain with INT32 indices, which TFLite Micro runs (EQUAL on int32 is raw).
    check(arg_model(870, then_equal=True), "arg_max_equal_i32", "tflm", 0, extra_inputs=few_values)


# ---------------------------------------------------------------------------------------------
# Converter-made models


def keras_global_pool(kind: str, rank: int, dense: bool = True, batch: int | None = 1):
    """batch None: a dynamic batch (keras.Input's usual form), which shape inference fixes to 1."""

    def build():
        import tensorflow as tf

        seeded_keras(3)
        if rank == 2:
            layers = [tf.keras.Input((9, 7, 4), batch_size=batch), tf.keras.layers.Conv2D(6, 3, activation="relu")]
            pool = tf.keras.layers.GlobalMaxPooling2D if kind == "max" else tf.keras.layers.GlobalAveragePooling2D
        else:
            layers = [tf.keras.Input((20, 5), batch_size=batch), tf.keras.layers.Conv1D(6, 3)]
            pool = tf.keras.layers.GlobalMaxPooling1D
        return tf.keras.Sequential(layers + [pool()] + ([tf.keras.layers.Dense(3)] if dense else []))

    return build


def _tf():
    import tensorflow as tf

    return tf


CONVERTER_CASES = {
    # name: (keras builder or function, input shapes (functions only), mode, op that must appear, oracle)
    "global_max_pool_2d": (keras_global_pool("max", 2), None, "int8", "REDUCE_MAX", "tflm"),
    "global_max_pool_1d": (keras_global_pool("max", 1), None, "int8", "REDUCE_MAX", "tflm"),
    "global_max_pool_2d_dynamic_batch": (keras_global_pool("max", 2, batch=None), None, "int8", "REDUCE_MAX", "tflm"),
    "global_max_pool_1d_dynamic_batch": (keras_global_pool("max", 1, batch=None), None, "int8", "REDUCE_MAX", "tflm"),
    # TFLite Micro runs REDUCE_MAX in int8 only: the 16x8 form is measured against TFLite's
    # reference, without a Dense head (its int16 FULLY_CONNECTED differs from TFLite Micro's by
    # 1 LSB on some elements, and edgeconv follows TFLite Micro there).
    "global_max_pool_2d_16x8_no_head": (
        keras_global_pool("max", 2, dense=False),
        None,
        "16x8",
        "REDUCE_MAX",
        "tflite_ref",
    ),
    "global_avg_pool_2d_16x8": (keras_global_pool("avg", 2), None, "16x8", "MEAN", "tflm"),
    "reduce_sum_spatial": (lambda x: _tf().reduce_sum(x, axis=[1, 2]), [(1, 6, 6, 8)], "int8", "SUM", "tflm"),
    "reduce_sum_keep_16x8": (lambda x: _tf().reduce_sum(x, axis=-1, keepdims=True), [(1, 5, 9)], "16x8", "SUM", "tflm"),
    "reduce_min_channels": (
        lambda x: _tf().reduce_min(x, axis=[-1, 1], keepdims=True),
        [(2, 4, 5, 6)],
        "int8",
        "REDUCE_MIN",
        "tflm",
    ),
    "argmax_last": (
        lambda x: _tf().argmax(x, axis=-1, output_type=_tf().int32),
        [(1, 6, 10)],
        "int8",
        "ARG_MAX",
        "tflm",
    ),
    "argmin_first": (
        lambda x: _tf().argmin(x, axis=1, output_type=_tf().int32),
        [(2, 7, 3)],
        "int8",
        "ARG_MIN",
        "tflm",
    ),
}


@pytest.mark.parametrize("name", sorted(CONVERTER_CASES))
def test_converter(name):
    build, shapes, mode, wanted, oracle = CONVERTER_CASES[name]
    seed = sorted(CONVERTER_CASES).index(name)
    spec = {"op": "reduce_arg", "name": name, "shapes": shapes, "mode": mode}
    if shapes is None:
        data = cached_model(spec, lambda: tflite_from_keras(build(), seed=seed, mode=mode))
    else:
        data = cached_model(spec, lambda: tflite_from_function(build, shapes, seed=seed, mode=mode))
    assert wanted in opcodes(data), f"{name}: the converter emitted {opcodes(data)}, no {wanted}"
    check(data, name, oracle, seed, samples=8)


# ---------------------------------------------------------------------------------------------
# Extremes, also built with ASan/UBSan (the promised flags): wrapping int32 sums, large left
# shifts, type limits


def extreme_samples(specs):
    """All-minimum, all-maximum, zero and alternating min/max inputs."""
    out = []
    for kind in ("min", "max", "zero", "alternate"):
        arrays = []
        for sp in specs:
            info = np.iinfo(np.dtype(sp.dtype))
            a = np.zeros(sp.shape, dtype=sp.dtype)
            if kind == "min":
                a[...] = info.min
            elif kind == "max":
                a[...] = info.max
            elif kind == "alternate":
                a.reshape(-1)[0::2] = info.min
                a.reshape(-1)[1::2] = info.max
            arrays.append(a)
        out.append(Sample(arrays, f"extreme {kind}"))
    return out


def extremes_model() -> bytes:
    n = Net()
    ins, outs = [], []

    def add(opname, shape, axes, dtype, in_q, out_q, keep=False):
        k = len(ins)
        x = n.tensor(f"x{k}", shape, dtype, scale=in_q[0], zp=in_q[1])
        a = n.tensor(f"axis{k}", [len(axes)], "int32", data=axes)
        y = n.tensor(f"y{k}", reduced_shape(shape, axes, keep), dtype, scale=out_q[0], zp=out_q[1])
        n.op(opname, [x, a], [y], keepDims=keep)
        ins.append(x)
        outs.append(y)

    # 90000 int16 values: the int32 sum wraps (as TFLite's does)
    add("SUM", [1, 300, 300], [1, 2], "int16", (1e-4, 0), (30.0, 0))
    # a rescale of 2^20: left shift 21
    add("SUM", [1, 3, 4], [-1], "int8", (0.5, -128), (0.5 / 2**20, 127))
    add("MEAN", [2, 50, 40], [1, 2], "int16", (1e-3, 5), (1e-3, -7))
    add("MEAN", [1, 9, 9, 3], [1, 2], "int8", (0.1, 127), (1e-4, -128), keep=True)
    add("REDUCE_MAX", [3, 1, 5], [0, -1], "int8", (0.1, -128), (0.1, -128))
    add("REDUCE_MIN", [4, 7], [1], "int8", (0.1, 127), (0.1, 127))
    return n.finish(ins, outs)


# Like test_ops_compare.py's test_compare_extremes (same oracle + sanitizer pair), on its own model
def test_reduce_extremes():
    data = extremes_model()
    check(data, "reduce_extremes", "tflm", 0, samples=3, extra_inputs=extreme_samples)
    sanitized_equal(data, "reduce_extremes", extreme_samples)


def test_arg_min_max_sanitized():
    data = arg_model(890, out_dtype="int64", axis_dtype="int32", then_equal=True)
    sanitized_equal(data, "arg_sanitized", few_values)


# ---------------------------------------------------------------------------------------------
# Refusals: what TFLite Micro (or, where it lacks the type, TFLite's reference) refuses


# Same shape as emit/test_kernel_params.py's _arg_max; kept apart: each file builds with its own net helper and
# checks something different (refusals here, params there)
def one_op(
    opname: str, dtype: str, in_q, out_q, out_dtype: str | None = None, axis_dtype: str = "int32", **options
) -> bytes:
    n = Net()
    x = n.tensor("x", [2, 3, 4], dtype, scale=in_q[0], zp=in_q[1])
    a = n.tensor("axis", [1], axis_dtype, data=[1])
    if opname.startswith("ARG"):
        y = n.tensor("y", [2, 4], out_dtype)
    else:
        y = n.tensor("y", [2, 4], dtype, scale=out_q[0], zp=out_q[1])
    n.op(opname, [x, a], [y], **options)
    return n.finish([x], [y])


def arg_int64_option_int32() -> bytes:
    """INT64 indices (consumed by EQUAL, as a model cannot output INT64) whose option says INT32."""
    n = Net()
    x = n.tensor("x", [2, 3, 4], "int8", scale=0.1, zp=0)
    a = n.tensor("axis", [1], "int32", data=[1])
    y = n.tensor("y", [2, 4], "int64")
    n.op("ARG_MIN", [x, a], [y], outputType=2)
    c = n.tensor("c", [1], "int64", data=[1])
    b = n.tensor("b", [2, 4], "bool")
    n.op("EQUAL", [y, c], [b])
    p = n.tensor("p", [2, 4], "int8", scale=0.1, zp=0)
    o = n.tensor("o", [2, 4], "int8", scale=0.1, zp=0)
    n.op("SELECT_V2", [b, p, p], [o])
    return n.finish([x, p], [o])


REFUSALS = {
    # name: (model, words the one-line refusal must contain)
    "max_rescale": (lambda: one_op("REDUCE_MAX", "int8", (0.1, 0), (0.2, 0)), "quantization"),
    "min_zero_point": (lambda: one_op("REDUCE_MIN", "int8", (0.1, 3), (0.1, 4)), "quantization"),
    "max_int16_zero_point": (lambda: one_op("REDUCE_MAX", "int16", (0.1, 3), (0.1, 3)), "zero points must be 0"),
    "sum_int64_axis": (lambda: one_op("SUM", "int8", (0.1, 0), (0.2, 0), axis_dtype="int64"), "INT32"),
    "arg_int16": (lambda: one_op("ARG_MAX", "int16", (0.1, 0), None, "int32", outputType=2), "INT16"),
    "arg_output_type": (lambda: arg_int64_option_int32(), "output_type"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals(name):
    from edgeconv.frontend.ir import ModelError
    from edgeconv.lowering.compiler import compile_bytes

    build, words = REFUSALS[name]
    with pytest.raises(ModelError) as err:
        compile_bytes(build(), name)
    message = str(err.value)
    assert words in message and "\n" not in message, message
    assert any(op in message for op in ("REDUCE_MAX", "REDUCE_MIN", "SUM", "ARG_MAX", "ARG_MIN")), message


def test_emulated_cortex_m4():
    # The same C on an emulated Cortex-M4 (QEMU): the reductions' extremes (TFLite Micro) and
    # INT64 ARG chains (TFLite's reference).
    for data, label, oracle in (
        (extremes_model(), "reduce_extremes_m4", "tflm"),
        (arg_model(850, out_dtype="int64", axis_dtype="int64", then_equal=True), "arg_i64_m4", "tflite_ref"),
    ):
        report = validate_bytes(data, label, samples=3, seed=1, board="cortex-m4")
        assert report.board == "cortex-m4" and oracle_is(report, oracle) and report.elements_compared > 0, report.notes
        assert report.bit_exact and report.mismatches_vs_oracle == 0, f"{label}: {report.mismatches_vs_oracle} differ"
