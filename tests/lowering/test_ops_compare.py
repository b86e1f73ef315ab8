"""Parity of EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, SELECT_V2, SELECT and
SQUARED_DIFFERENCE (int8 and int16).

Randomized models built with tests/mutants.Net (seeded: shapes of rank 1-4 with broadcasting,
scales, zero points; tiny scales where TFLite's rescale maps distinct raw values to one), each
model holding several independent ops, plus models from the TFLite converter
(tf.where(x > y, a, b), squared differences as in written-out normalization, int8 and 16x8;
the converter keeps NOT_EQUAL in float and quantizes no comparison to 16x8, so those are
covered by the Net models only).
A comparison's bool output feeds a SELECT_V2 whose output is the model's (edgeconv refuses BOOL
model inputs and outputs, compiler._check_io). Every output element must equal the oracle:
TFLite Micro, or TFLite's reference kernels for int16 comparisons (all but GREATER, which
TFLite Micro runs with parameters it never sets: refused) and SELECT (version 1), which only it
runs; each case asserts which oracle it was measured against.
Extremes (scales just below 1 and tiny, extreme zero points, output rescales needing large
shifts) are also run on min/max/zero/alternating inputs and built with ASan/UBSan.
"""

import numpy as np
import pytest

import mutants
from edgeconv.checking.validation import Sample, validate_bytes
from modelgen import assert_exact_vs, cached_model, opcodes, oracle_is, tflite_from_function
from mutants import Net
from sanitized import sanitized_equal

COMPARISONS = ["EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL"]
INT16_COMPARISONS = ["EQUAL", "NOT_EQUAL", "GREATER_EQUAL", "LESS", "LESS_EQUAL"]  # GREATER: refused
for _name in COMPARISONS:
    mutants.OPTIONS_OF.setdefault(_name, "".join(w.capitalize() for w in _name.split("_")) + "Options")
mutants.OPTIONS_OF.setdefault("SELECT_V2", "SelectV2Options")
mutants.OPTIONS_OF.setdefault("SELECT", "SelectOptions")
mutants.OPTIONS_OF.setdefault("SQUARED_DIFFERENCE", "SquaredDifferenceOptions")


def check(data: bytes, label: str, oracle: str = "tflm", seed: int = 0, samples: int = 6, extra_inputs=None):
    return assert_exact_vs(oracle, data, label, samples=samples, seed=seed, extra_inputs=extra_inputs)


def broadcast_pair(rng, rank: int) -> tuple[list[int], list[int], list[int]]:
    """Two shapes that broadcast (either may have fewer dimensions) and their broadcast."""
    out = [int(d) for d in rng.integers(1, 6, size=rank)]
    a = [1 if rng.random() < 0.3 else d for d in out]
    b = [1 if rng.random() < 0.3 else d for d in out]
    if rng.random() < 0.3:
        b = b[int(rng.integers(0, rank)) :]
    full = [max(x, y) for x, y in zip(a, [1] * (rank - len(b)) + b)]
    return a, b, full


def shrink(rng, shape: list[int]) -> list[int]:
    """A shape that broadcasts to `shape`: some dimensions 1, some leading ones dropped."""
    s = [1 if rng.random() < 0.3 else d for d in shape]
    return s[int(rng.integers(0, len(s))) :] if rng.random() < 0.3 else s


def int8_quant(rng, tiny: bool = False) -> tuple[float, int]:
    scale = float(rng.uniform(1e-4, 3e-3)) if tiny else float(rng.uniform(0.01, 0.9))
    return scale, int(rng.integers(-100, 100))


# ---------------------------------------------------------------------------------------------
# Comparisons feeding SELECT_V2: randomized

OPS_PER_MODEL = 5


def compare_select_model(dtype: str, seed: int, comparisons=COMPARISONS, select_dtype: str | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    select_dtype = select_dtype or dtype
    n = Net()
    ins, outs = [], []
    for k in range(OPS_PER_MODEL):
        opname = comparisons[int(rng.integers(0, len(comparisons)))]
        rank = int(rng.integers(1, 5))
        sa, sb, full = broadcast_pair(rng, rank)
        if dtype == "int8":
            tiny = rng.random() < 0.3
            (s0, z0), (s1, z1) = int8_quant(rng, tiny), int8_quant(rng, tiny)
            if rng.random() < 0.3:
                s1, z1 = s0, z0
        else:
            s0, z0, s1, z1 = float(rng.uniform(1e-4, 0.01)), 0, float(rng.uniform(1e-4, 0.01)), 0
        a = n.tensor(f"a{k}", sa, dtype, scale=s0, zp=z0)
        b = n.tensor(f"b{k}", sb, dtype, scale=s1, zp=z1)
        c = n.tensor(f"cond{k}", full, "bool")
        n.op(opname, [a, b], [c])
        sx, sy = shrink(rng, full), shrink(rng, full)
        qs = 0.05 if select_dtype == "int8" else 1e-3
        x = n.tensor(f"x{k}", sx, select_dtype, scale=qs, zp=0)
        y = n.tensor(f"y{k}", sy, select_dtype, scale=qs, zp=0)
        rank_out = max(len(full), len(sx), len(sy))
        ext = [[1] * (rank_out - len(s)) + list(s) for s in (full, sx, sy)]
        out_shape = [max(d) for d in zip(*ext)]
        o = n.tensor(f"out{k}", out_shape, select_dtype, scale=qs, zp=0)
        n.op("SELECT_V2", [c, x, y], [o])
        ins += [a, b, x, y]
        outs.append(o)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(6))
def test_compare_select_int8_random(seed):
    check(
        compare_select_model("int8", 500 + seed, select_dtype="int8" if seed % 2 else "int16"),
        f"compare_select_s8_{seed}",
        "tflm",
        seed,
    )


@pytest.mark.parametrize("seed", range(2))
def test_compare_int16_random(seed):
    # TFLite Micro refuses these on int16; TFLite's reference compares the raw values.
    check(
        compare_select_model("int16", 600 + seed, comparisons=INT16_COMPARISONS),
        f"compare_s16_{seed}",
        "tflite_ref",
        seed,
    )


# ---------------------------------------------------------------------------------------------
# SQUARED_DIFFERENCE: randomized


def squared_difference_model(dtype: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k in range(OPS_PER_MODEL):
        rank = int(rng.integers(1, 5))
        sa, sb, full = broadcast_pair(rng, rank)
        if rng.random() < 0.5:
            sa, sb = sb, sa
        if dtype == "int8":
            (s0, z0), (s1, z1) = int8_quant(rng), int8_quant(rng)
            so = max(s0, s1) ** 2 * float(rng.uniform(20, 4000))
            zo = int(rng.integers(-128, 0))
        else:
            s0, s1 = float(rng.uniform(1e-4, 1e-3)), float(rng.uniform(1e-4, 1e-3))
            z0 = z1 = zo = 0
            so = max(s0, s1) ** 2 * float(rng.uniform(2e4, 2e6))
        a = n.tensor(f"a{k}", sa, dtype, scale=s0, zp=z0)
        b = n.tensor(f"b{k}", sb, dtype, scale=s1, zp=z1)
        o = n.tensor(f"out{k}", full, dtype, scale=so, zp=zo)
        n.op("SQUARED_DIFFERENCE", [a, b], [o])
        ins += [a, b]
        outs.append(o)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_squared_difference_random(dtype, seed):
    check(
        squared_difference_model(dtype, 700 + seed + (50 if dtype == "int16" else 0)),
        f"squared_difference_{dtype}_{seed}",
        "tflm",
        seed,
    )


# ---------------------------------------------------------------------------------------------
# SELECT (version 1): condition of x's shape, a scalar, or a vector over x's first dimension


def select_v1_model(seed: int, dtype: str = "int8") -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k, form in enumerate(("same", "scalar", "rank1", "rank1")):
        rank = int(rng.integers(1, 5))
        shape = [int(d) for d in rng.integers(1, 6, size=rank)]
        cshape = {"same": shape, "scalar": [], "rank1": shape[:1]}[form]
        (s0, z0), (s1, z1) = int8_quant(rng), int8_quant(rng)
        a = n.tensor(f"a{k}", cshape, "int8", scale=s0, zp=z0)
        b = n.tensor(f"b{k}", cshape, "int8", scale=s1, zp=z1)
        c = n.tensor(f"cond{k}", cshape, "bool")
        n.op(COMPARISONS[int(rng.integers(0, 6))], [a, b], [c])
        qs = 0.05 if dtype == "int8" else 1e-3
        x = n.tensor(f"x{k}", shape, dtype, scale=qs, zp=0)
        y = n.tensor(f"y{k}", shape, dtype, scale=qs, zp=0)
        o = n.tensor(f"out{k}", shape, dtype, scale=qs, zp=0)
        n.op("SELECT", [c, x, y], [o])
        ins += [a, b, x, y]
        outs.append(o)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_select_v1_random(dtype, seed):
    # TFLite Micro has no SELECT (version 1): TFLite's reference is the oracle.
    check(
        select_v1_model(900 + seed + (10 if dtype == "int16" else 0), dtype),
        f"select_v1_{dtype}_{seed}",
        "tflite_ref",
        seed,
    )


# ---------------------------------------------------------------------------------------------
# Converter-made models

CONVERTER_CASES = {
    # name: (function, input shapes, mode, ops that must appear, oracle)
    "where_greater": (
        lambda x, y, a, b: tf_where(tf_greater(x, y), a, b),
        [(1, 4, 5, 3)] * 4,
        "int8",
        {"GREATER", "SELECT"},
        "tflite_ref",
    ),
    "where_broadcast": (
        lambda x, a, b: tf_where_v2(tf_less_equal(x, 0.1), a, b),
        [(1, 4, 5, 3), (1, 1, 5, 3), (3,)],
        "int8",
        {"LESS_EQUAL", "SELECT_V2"},
        "tflm",
    ),
    "greater_equal": (
        lambda x, y, a, b: tf_where_v2(tf_greater_equal(x, y), a, b),
        [(2, 6, 4)] * 4,
        "int8",
        {"GREATER_EQUAL", "SELECT"},
        "tflite_ref",
    ),
    "equal_broadcast": (
        lambda x, a, b: tf_where_v2(tf_equal(x, 0.0), a, b),
        [(2, 1, 4), (2, 6, 4), (6, 1)],
        "int8",
        {"EQUAL", "SELECT_V2"},
        "tflm",
    ),
    "norm_written_out": (lambda x: tf_sqdiff(x, tf_mean(x)), [(1, 6, 6, 8)], "int8", {"SQUARED_DIFFERENCE"}, "tflm"),
    # Each _16x8 entry repeats its int8 twin's function and op set with other shapes: one named entry per case, so a
    # failure names it (a generator of twins would hide the shapes)
    "norm_written_out_16x8": (
        lambda x: tf_sqdiff(x, tf_mean(x)),
        [(1, 6, 6, 8)],
        "16x8",
        {"SQUARED_DIFFERENCE"},
        "tflm",
    ),
    "sqdiff_two_inputs": (
        lambda x, y: tf_sqdiff(x, y),
        [(1, 5, 7, 3), (1, 1, 7, 3)],
        "int8",
        {"SQUARED_DIFFERENCE"},
        "tflm",
    ),
    "sqdiff_two_inputs_16x8": (
        lambda x, y: tf_sqdiff(x, y),
        [(1, 5, 7, 3), (1, 5, 1, 3)],
        "16x8",
        {"SQUARED_DIFFERENCE"},
        "tflm",
    ),
}


def tf_where(c, a, b):
    import tensorflow as tf

    return tf.compat.v1.where(c, a, b)


def tf_where_v2(c, a, b):
    import tensorflow as tf

    return tf.where(c, a, b)


def tf_greater(a, b):
    import tensorflow as tf

    return tf.math.greater(a, b)


def tf_less_equal(a, b):
    import tensorflow as tf

    return tf.math.less_equal(a, b)


def tf_equal(a, b):
    import tensorflow as tf

    return tf.math.equal(a, b)


def tf_greater_equal(a, b):
    import tensorflow as tf

    return tf.math.greater_equal(a, b)


def tf_sqdiff(a, b):
    import tensorflow as tf

    return tf.math.squared_difference(a, b)


def tf_mean(x):
    import tensorflow as tf

    return tf.reduce_mean(x, axis=-1, keepdims=True)


@pytest.mark.parametrize("name", sorted(CONVERTER_CASES))
def test_converter(name):
    fn, shapes, mode, wanted, oracle = CONVERTER_CASES[name]
    seed = sorted(CONVERTER_CASES).index(name)
    data = cached_model(
        {"op": "compare_select_sqdiff", "name": name, "shapes": shapes, "mode": mode},
        lambda: tflite_from_function(fn, shapes, seed=seed, mode=mode),
    )
    missing = wanted - set(opcodes(data))
    assert not missing, f"{name}: the converter emitted {opcodes(data)}, no {missing}"
    check(data, name, oracle, seed, samples=8)


# ---------------------------------------------------------------------------------------------
# Extremes, also built with ASan/UBSan (the promised flags)


def extreme_samples(specs):
    """All-minimum, all-maximum, zero and alternating min/max inputs; the alternation is
    offset per input, so that paired inputs also meet as (min, max) and (max, min)."""
    out = []
    for kind in ("min", "max", "zero", "alternate"):
        arrays = []
        for j, sp in enumerate(specs):
            info = np.iinfo(np.dtype(sp.dtype))
            a = np.zeros(sp.shape, dtype=sp.dtype)
            if kind == "min":
                a[...] = info.min
            elif kind == "max":
                a[...] = info.max
            elif kind == "alternate":
                a.reshape(-1)[j % 2 :: 2] = info.min
                a.reshape(-1)[(j + 1) % 2 :: 2] = info.max
            arrays.append(a)
        out.append(Sample(arrays, f"extreme {kind}"))
    return out


def sqdiff_extremes_model(dtype: str) -> bytes:
    n = Net()
    ins, outs = [], []
    cases = {
        # equal scales (both rescales by 1/2), extreme zero points, an output scale that needs a
        # large left shift, one that needs a large right shift
        "int8": [
            ((0.02, -128), (0.02, 127), (1e-7, -128)),
            ((0.5, 127), (0.25, -128), (300.0, 127)),
            ((0.9, 0), (0.9, 0), (0.9 * 0.9 * 65025 / 255, -128)),
        ],
        "int16": [
            ((1e-3, 0), (1e-3, 0), (1e-12, 0)),
            ((0.5, 0), (0.25, 0), (2e6, 0)),
            ((1e-4, 0), (1e-4, 0), (1e-8 * 4 * 32768 * 32768 / 32767, 0)),
        ],
    }[dtype]
    for k, (q0, q1, qo) in enumerate(cases):
        a = n.tensor(f"a{k}", [2, 3], dtype, scale=q0[0], zp=q0[1])
        b = n.tensor(f"b{k}", [2, 3], dtype, scale=q1[0], zp=q1[1])
        o = n.tensor(f"out{k}", [2, 3], dtype, scale=qo[0], zp=qo[1])
        n.op("SQUARED_DIFFERENCE", [a, b], [o])
        ins += [a, b]
        outs.append(o)
    return n.finish(ins, outs)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_squared_difference_extremes(dtype):
    data = sqdiff_extremes_model(dtype)
    check(data, f"sqdiff_extremes_{dtype}", "tflm", 0, samples=3, extra_inputs=extreme_samples)
    sanitized_equal(data, f"sqdiff_extremes_{dtype}", extreme_samples)


def compare_extremes_model() -> bytes:
    """Scales just below 1 and tiny, extreme zero points, feeding SELECT_V2."""
    n = Net()
    ins, outs = [], []
    for k, (opname, q0, q1) in enumerate(
        [
            ("GREATER", (0.999, -128), (0.999, 127)),
            ("LESS_EQUAL", (1e-6, 127), (2e-6, -128)),
            ("EQUAL", (1e-3, -128), (1e-3, 127)),
            ("NOT_EQUAL", (0.5, 0), (0.25, 100)),
        ]
    ):
        a = n.tensor(f"a{k}", [2, 4], "int8", scale=q0[0], zp=q0[1])
        b = n.tensor(f"b{k}", [4], "int8", scale=q1[0], zp=q1[1])
        c = n.tensor(f"cond{k}", [2, 4], "bool")
        n.op(opname, [a, b], [c])
        x = n.tensor(f"x{k}", [1, 4], "int8", scale=0.1, zp=0)
        y = n.tensor(f"y{k}", [2, 1], "int8", scale=0.1, zp=0)
        o = n.tensor(f"out{k}", [2, 4], "int8", scale=0.1, zp=0)
        n.op("SELECT_V2", [c, x, y], [o])
        ins += [a, b, x, y]
        outs.append(o)
    return n.finish(ins, outs)


# Like test_ops_reduce.py's test_reduce_extremes (same oracle + sanitizer pair), on its own model
def test_compare_extremes():
    data = compare_extremes_model()
    check(data, "compare_extremes", "tflm", 0, samples=3, extra_inputs=extreme_samples)
    sanitized_equal(data, "compare_extremes", extreme_samples)


def test_compare_int16_sanitized():
    sanitized_equal(
        compare_select_model("int16", 650, comparisons=INT16_COMPARISONS), "compare_s16_sanitized", extreme_samples
    )


# ---------------------------------------------------------------------------------------------
# Refusals: what TFLite Micro (or, where it lacks the type, TFLite's reference) refuses


def binary_op(opname: str, dtype: str, q0, q1, out_dtype: str, qo=None) -> bytes:
    n = Net()
    a = n.tensor("a", [2, 3], dtype, scale=q0[0], zp=q0[1])
    b = n.tensor("b", [2, 3], dtype, scale=q1[0], zp=q1[1])
    o = n.tensor("o", [2, 3], out_dtype, scale=qo[0] if qo else None, zp=qo[1] if qo else 0)
    n.op(opname, [a, b], [o])
    if out_dtype != "bool":
        return n.finish([a, b], [o])
    x = n.tensor("x", [2, 3], "int8", scale=0.1, zp=0)  # a model cannot output BOOL here
    s = n.tensor("s", [2, 3], "int8", scale=0.1, zp=0)
    n.op("SELECT_V2", [o, x, x], [s])
    return n.finish([a, b, x], [s])


REFUSALS = {
    # name: (model, words the one-line refusal must contain)
    "greater_int16": (lambda: binary_op("GREATER", "int16", (0.1, 0), (0.1, 0), "bool"), "never sets"),
    "scale_one": (lambda: binary_op("LESS", "int8", (1.0, 0), (0.1, 0), "bool"), "not below 1"),
    "unquantized": (lambda: binary_op("EQUAL", "int8", (None, 0), (0.1, 0), "bool"), "not quantized"),
    "sqdiff_int16_zero_point": (
        lambda: binary_op("SQUARED_DIFFERENCE", "int16", (0.1, 2), (0.1, 0), "int16", (0.1, 0)),
        "zero points must be 0",
    ),
    "sqdiff_types": (lambda: binary_op("SQUARED_DIFFERENCE", "int8", (0.1, 2), (0.1, 0), "int16", (0.1, 0)), "differ"),
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


def test_select_v2_mixed_scalars():
    # Every tensor holds one element, the output's rank larger than any input's: TFLite Micro
    # copies the one element ("possible mixed scalar") and keeps the stored output shape.
    n = Net()
    a = n.tensor("a", [1, 1], "int8", scale=0.1, zp=0)
    b = n.tensor("b", [], "int8", scale=0.2, zp=3)
    c = n.tensor("cond", [1, 1], "bool")
    n.op("LESS", [a, b], [c])
    x = n.tensor("x", [1], "int8", scale=0.1, zp=0)
    y = n.tensor("y", [], "int8", scale=0.1, zp=0)
    o = n.tensor("out", [1, 1, 1], "int8", scale=0.1, zp=0)
    n.op("SELECT_V2", [c, x, y], [o])
    check(n.finish([a, b, x, y], [o]), "select_v2_mixed_scalars", "tflm", 0, samples=12)


def test_emulated_cortex_m4():
    # The same C on an emulated Cortex-M4 (QEMU): comparisons + SELECT_V2 and SQUARED_DIFFERENCE
    # (TFLite Micro), SELECT (TFLite's reference).
    for data, label, oracle in (
        (compare_select_model("int8", 501), "compare_select_m4", "tflm"),
        (squared_difference_model("int16", 751), "sqdiff_s16_m4", "tflm"),
        (select_v1_model(901), "select_v1_m4", "tflite_ref"),
    ):
        report = validate_bytes(data, label, samples=3, seed=1, board="cortex-m4")
        assert report.board == "cortex-m4" and oracle_is(report, oracle) and report.elements_compared > 0, report.notes
        assert report.bit_exact and report.mismatches_vs_oracle == 0, f"{label}: {report.mismatches_vs_oracle} differ"
