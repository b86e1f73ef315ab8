"""Parity of the unary math ops: ABS, RSQRT, SQRT, EXP, LOG, ELU, GELU, LOG_SOFTMAX, L2_NORMALIZATION,
and of the float islands (DEQUANTIZE -> ELU/SQUARE -> QUANTIZE) fused into int8 tables.

Each randomized case is one op instance with its own seeded quantization and shape; a model
holds several independent instances (one graph input and output each), so one C build and
one reference run check many cases. The oracle is TFLite Micro where it runs the op and type
(ABS, RSQRT, ELU, LOG_SOFTMAX, L2_NORMALIZATION), TFLite's reference kernels where it does
not (SQRT, EXP, LOG and GELU: TFLite Micro runs SQRT, EXP and LOG in float32 only and has no
GELU). Every int8 case feeds all
256 input values, every int16 table case all 65536. Converter-made models (tf.function and
Keras, int8 and 16x8) check the forms the converter writes. Refusals are checked where TFLite
refuses, or where its result is undefined.

RSQRT inputs stay at or above the input zero point: TFLite Micro stops with an error on a
negative input, so no reference defines the output there.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edgeconv.emit.emitter import runtime_dir
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.targets.hostbuild import WARNING_FLAGS, compiler
from modelgen import assert_exact, cached_model, oracle_is, seeded_keras, tflite_from_function, tflite_from_keras
from mutants import Net, schema
from quantize.fixedpoint import inv_sqrt_quantized_multiplier_exp

OPTIONS = {
    "ABS": "AbsOptions",
    "RSQRT": None,
    "SQRT": None,
    "EXP": "ExpOptions",
    "LOG": None,
    "ELU": None,
    "GELU": "GeluOptions",
    "LOG_SOFTMAX": "LogSoftmaxOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "SQUARE": None,
    "NEG": None,
    "FLOOR": None,
    "CEIL": None,
    "ROUND": None,
    "SIN": None,
    "COS": None,
}
ORACLE = {
    "ABS": "tflm",
    "RSQRT": "tflm",
    "SQRT": "tflite",
    "EXP": "tflite",
    "LOG": "tflite",
    "ELU": "tflm",
    "GELU": "tflite",
    "LOG_SOFTMAX": "tflm",
    "L2_NORMALIZATION": "tflm",
}
INFO = {"int8": np.iinfo(np.int8), "int16": np.iinfo(np.int16)}


@dataclass
class Case:
    """One op instance: its input (values and quantization) and output quantization."""

    shape: tuple[int, ...]
    dtype: str
    x_quant: tuple[float, int]
    y_quant: tuple[float, int]
    data: np.ndarray
    options: dict = field(default_factory=dict)


def _add_op(net: Net, opname: str, inputs: list[int], outputs: list[int], options: dict) -> None:
    net.add_op(opname, inputs, outputs, OPTIONS[opname], **options)


def one_op_model(opname: str, cases: list[Case]) -> bytes:
    """One op instance per case, each with its own graph input and output."""
    return _mixed_model([(opname, c) for c in cases])


def _random_shape(rng, rank_max: int = 4, size_max: int = 300) -> tuple[int, ...]:
    rank = int(rng.integers(1, rank_max + 1))
    while True:
        shape = tuple(int(d) for d in rng.integers(1, 12, size=rank))
        if int(np.prod(shape)) <= size_max:
            return shape


def _all_int8(rng, shape: tuple[int, ...], low: int = -128) -> tuple[tuple[int, ...], np.ndarray]:
    """`shape` widened so that its last dimension holds every value in [low, 127] at least once
    (shuffled), the rest random in that range."""
    values = np.arange(low, 128)
    size = max(int(np.prod(shape)), values.size)
    lead = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    last = -(-size // lead)
    data = rng.integers(low, 128, size=lead * last)
    data[: values.size] = rng.permutation(values)
    return shape[:-1] + (last,), rng.permutation(data).reshape(shape[:-1] + (last,)).astype(np.int8)


def _log_uniform(rng, low: float, high: float) -> float:
    return float(np.float32(10.0 ** rng.uniform(low, high)))


# ---------------------------------------------------------------------------------------------
# Randomized quantization per op: scales and zero points a model could carry, each accepted
# (an output scale that covers the function's range up to a random factor).


def _lut_case_int8(rng, fn, x_scale: tuple[float, float], options=None) -> Case:
    xs, xzp = _log_uniform(rng, *x_scale), int(rng.integers(-128, 128))
    lo, hi = xs * (-128 - xzp), xs * (127 - xzp)
    grid = np.linspace(lo, hi, 257)
    span = max(float(np.max(fn(grid)) - np.min(fn(grid))), 1e-3)
    ys = float(np.float32(span / 255 * rng.uniform(0.5, 3.0)))
    yzp = int(rng.integers(-128, 128))
    shape, data = _all_int8(rng, _random_shape(rng))
    return Case(shape, "int8", (xs, xzp), (ys, yzp), data, options or {})


def _lut_case_int16(rng, fn, x_scale: tuple[float, float], zero_points: bool, options=None) -> Case:
    xs = _log_uniform(rng, *x_scale)
    xzp = int(rng.integers(-3000, 3000)) if zero_points else 0
    lo, hi = xs * (-32768 - xzp), xs * (32767 - xzp)
    grid = np.linspace(lo, hi, 1025)
    span = max(float(np.max(fn(grid)) - np.min(fn(grid))), 1e-3)
    ys = float(np.float32(span / 65535 * rng.uniform(0.7, 3.0)))
    yzp = int(rng.integers(-3000, 3000)) if zero_points else 0
    data = np.arange(-32768, 32768, dtype=np.int16).reshape(1, 256, 256)
    return Case(data.shape, "int16", (xs, xzp), (ys, yzp), data, options or {})


def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def abs_case(rng, dtype: str) -> Case:
    if dtype == "int8":
        xs, xzp = _log_uniform(rng, -3, 0), int(rng.integers(-128, 128))
        ys = xs if rng.random() < 0.3 else float(np.float32(xs * rng.uniform(0.4, 2.5)))
        shape, data = _all_int8(rng, _random_shape(rng))
        return Case(shape, dtype, (xs, xzp), (ys, int(rng.integers(-128, 128))), data)
    xs = _log_uniform(rng, -5, -2)
    ys = xs if rng.random() < 0.3 else float(np.float32(xs * rng.uniform(0.4, 2.5)))
    shape = _random_shape(rng)
    data = rng.integers(-32768, 32768, size=shape)
    data.flat[:3] = [-32768, 32767, 0][: data.size]
    return Case(shape, dtype, (xs, 0), (ys, 0), data.astype(np.int16))


def rsqrt_case(rng, dtype: str) -> Case:
    if dtype == "int8":
        xs, xzp = _log_uniform(rng, -3, -0.5), int(rng.integers(-128, 1))
        top = 1.0 / math.sqrt(xs)  # rsqrt of the smallest positive input
        ys = float(np.float32(top / 255 * rng.uniform(0.2, 3.0)))
        shape, data = _all_int8(rng, _random_shape(rng), low=xzp)
        return Case(shape, dtype, (xs, xzp), (ys, int(rng.integers(-128, 128))), data)
    xs = _log_uniform(rng, -5, -2)
    ys = float(np.float32(1.0 / math.sqrt(xs) / 32767 * rng.uniform(0.2, 3.0)))
    data = np.arange(0, 32768, dtype=np.int16).reshape(1, 128, 256)
    return Case(data.shape, dtype, (xs, 0), (ys, 0), data)


def sqrt_case(rng, dtype: str) -> Case:
    xs, xzp = _log_uniform(rng, -3, -0.5), int(rng.integers(-128, 1))
    ys = float(np.float32(math.sqrt(xs * (127 - xzp)) / 255 * rng.uniform(0.5, 3.0)))
    shape, data = _all_int8(rng, _random_shape(rng), low=xzp)
    return Case(shape, dtype, (xs, xzp), (ys, int(rng.integers(-128, 128))), data)


def exp_case(rng, dtype: str) -> Case:
    if dtype == "int8":
        return _lut_case_int8(rng, np.exp, (-2.5, -1.0))
    return _lut_case_int16(rng, np.exp, (-4.8, -3.7), zero_points=False)


def log_case(rng, dtype: str) -> Case:
    """Inputs mostly positive (log of x <= 0 is the output's lowest value)."""

    def fn(x):
        return np.log(np.maximum(x, 1e-3))

    if dtype == "int8":
        c = _lut_case_int8(rng, fn, (-2.5, -0.5))
        c.x_quant = (c.x_quant[0], int(rng.integers(-128, -60)))
        return c
    return _lut_case_int16(rng, fn, (-4.5, -2.5), zero_points=False)


def elu_case(rng, dtype: str) -> Case:
    return _lut_case_int8(rng, lambda x: np.where(x < 0, np.expm1(np.minimum(x, 0)), x), (-2.7, -0.5))


def gelu_case(rng, dtype: str, approximate: bool) -> Case:
    options = {"approximate": approximate}
    if dtype == "int8":
        return _lut_case_int8(rng, _gelu, (-2.7, -0.8), options)
    return _lut_case_int16(rng, _gelu, (-4.7, -3.5), zero_points=True, options=options)


# Like l2_case below (random shape, rows forced to special values), but its rows are ties at the maximum:
# kept apart, the special rows and output scales differ per op
def log_softmax_case(rng, dtype: str) -> Case:
    xs, xzp = _log_uniform(rng, -2.5, 0.6), int(rng.integers(-128, 128))
    shape = _random_shape(rng, size_max=600)
    data = rng.integers(-128, 128, size=shape)
    flat = data.reshape(-1, shape[-1])
    if flat.shape[0] > 1:
        flat[0] = flat[0, 0]  # a row of equal values
    if flat.shape[0] > 2:
        flat[1] = np.where(rng.random(shape[-1]) < 0.5, 127, flat[1])  # ties at the maximum
    return Case(shape, dtype, (xs, xzp), (16.0 / 256, 127), data.astype(np.int8))


# Like log_softmax_case above, but its special rows are zero and tiny sums of squares: kept apart, the special
# rows and output scales differ per op
def l2_case(rng, dtype: str) -> Case:
    xs, xzp = _log_uniform(rng, -3, 0), int(rng.integers(-128, 128))
    shape = _random_shape(rng, size_max=600)
    data = rng.integers(-128, 128, size=shape)
    flat = data.reshape(-1, shape[-1])
    if flat.shape[0] > 1:
        flat[0] = xzp  # sum of squares 0
    if flat.shape[0] > 2:
        flat[1] = xzp
        flat[1, -1] = min(127, xzp + int(rng.integers(1, 6)))  # a small sum: the left-shifted inverse root
    return Case(shape, dtype, (xs, xzp), (1.0 / 128, 0), data.astype(np.int8))


VARIANTS = {
    # name: (op, case maker, cases per model, models)
    "abs_s8": ("ABS", lambda rng: abs_case(rng, "int8"), 16, 1),
    "abs_s16": ("ABS", lambda rng: abs_case(rng, "int16"), 10, 1),
    "rsqrt_s8": ("RSQRT", lambda rng: rsqrt_case(rng, "int8"), 16, 1),
    "rsqrt_s16": ("RSQRT", lambda rng: rsqrt_case(rng, "int16"), 6, 1),
    "sqrt_s8": ("SQRT", lambda rng: sqrt_case(rng, "int8"), 16, 1),
    "exp_s8": ("EXP", lambda rng: exp_case(rng, "int8"), 16, 1),
    "exp_s16": ("EXP", lambda rng: exp_case(rng, "int16"), 6, 1),
    "log_s8": ("LOG", lambda rng: log_case(rng, "int8"), 16, 1),
    "log_s16": ("LOG", lambda rng: log_case(rng, "int16"), 6, 1),
    "elu_s8": ("ELU", lambda rng: elu_case(rng, "int8"), 16, 1),
    "gelu_s8": ("GELU", lambda rng: gelu_case(rng, "int8", False), 12, 1),
    "gelu_tanh_s8": ("GELU", lambda rng: gelu_case(rng, "int8", True), 12, 1),
    "gelu_s16": ("GELU", lambda rng: gelu_case(rng, "int16", False), 5, 1),
    "gelu_tanh_s16": ("GELU", lambda rng: gelu_case(rng, "int16", True), 5, 1),
    "log_softmax_s8": ("LOG_SOFTMAX", lambda rng: log_softmax_case(rng, "int8"), 16, 1),
    "l2_normalization_s8": ("L2_NORMALIZATION", lambda rng: l2_case(rng, "int8"), 16, 1),
}
PARAMS = [(name, m) for name in sorted(VARIANTS) for m in range(VARIANTS[name][3])]


@pytest.mark.parametrize("name,model", PARAMS, ids=[f"{n}-{m}" for n, m in PARAMS])
def test_randomized(name, model):
    opname, make, per_model, _ = VARIANTS[name]
    rng = np.random.default_rng([sorted(VARIANTS).index(name), model])
    cases = [make(rng) for _ in range(per_model)]
    data = one_op_model(opname, cases)
    assert_exact(data, f"{name}-{model}", ORACLE[opname], [[c.data for c in cases]])


# ---------------------------------------------------------------------------------------------
# Extremes


def test_extremes():
    """LOG_SOFTMAX at the largest depth (4095: the Q12 sum just below 2^31 for a flat row) and
    the largest input scale it takes (left shift 30: only the maximum and its neighbours are
    rescaled); L2_NORMALIZATION at the largest depth the int32 sum of squares allows (33025
    values of |x - zp| = 255: sum 2,147,450,625) and at depth 1."""
    ls = [
        Case((1, 4095), "int8", (0.05, 0), (16.0 / 256, 127), np.full((1, 4095), 7, dtype=np.int8)),
        Case(
            (2, 4095),
            "int8",
            (0.02, -5),
            (16.0 / 256, 127),
            np.random.default_rng(5).integers(-128, 128, size=(2, 4095)).astype(np.int8),
        ),
        Case(
            (3, 40),
            "int8",
            (15.9, 3),
            (16.0 / 256, 127),
            np.random.default_rng(6).integers(-128, 128, size=(3, 40)).astype(np.int8),
        ),
    ]
    ls[2].data[0, :5] = 127
    ls[2].data[0, 5:10] = 126
    assert_exact(one_op_model("LOG_SOFTMAX", ls), "log_softmax_extremes", "tflm", [[c.data for c in ls]])
    l2 = [
        Case((1, 33025), "int8", (0.1, -128), (1.0 / 128, 0), np.full((1, 33025), 127, dtype=np.int8)),
        Case((7, 1), "int8", (0.1, 3), (1.0 / 128, 0), np.arange(-3, 4, dtype=np.int8).reshape(7, 1) * 40),
    ]
    assert_exact(one_op_model("L2_NORMALIZATION", l2), "l2_extremes", "tflm", [[c.data for c in l2]])


def test_fixedpoint_helpers_ub_free():
    """ec_inv_sqrt_quantized_multiplier_exp equals the Python transcription on the sums
    L2_NORMALIZATION forms (0..19999 and 5000 random sums up to 2^31 - 1), and
    ec_log_x_for_x_ge_1 is close to log(x) on LOG_SOFTMAX's Q12 sums, both built with
    -fsanitize=undefined (no UB trips)."""
    xs = sorted(
        set(
            list(range(20000))
            + [int(v) for v in np.random.default_rng(3).integers(0, 2**31, 5000)]
            + [2**27, 2**29 - 1, 2**29, 2**31 - 1]
        )
    )
    src = (
        '#include <stdio.h>\n#include "ec_fixedpoint.h"\n'
        "int main(void) {\n"
        "    long long v;\n"
        '    while (scanf("%lld", &v) == 1) {\n'
        "        int32_t m; int s;\n"
        "        ec_inv_sqrt_quantized_multiplier_exp((int32_t)v, -1, &m, &s);\n"
        '        printf("%ld %d %ld\\n", (long)m, s,\n'
        "               (long)(v >= (1 << 19) ? ec_log_x_for_x_ge_1((int32_t)v, 12, 5) : 0));\n"
        "    }\n"
        "    return 0;\n"
        "}\n"
    )
    work = Path(__import__("tempfile").mkdtemp(prefix="ec-math-"))
    (work / "t.c").write_text(src)
    exe = work / "t"
    subprocess.run(
        [
            compiler(),
            *WARNING_FLAGS,
            "-fsanitize=undefined",
            "-fno-sanitize-recover=all",
            "-O1",
            "-I",
            str(runtime_dir()),
            str(work / "t.c"),
            "-o",
            str(exe),
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run([str(exe)], input="\n".join(map(str, xs)), capture_output=True, text=True, check=True)
    assert "runtime error" not in out.stderr, out.stderr[:500]
    rows = [tuple(int(t) for t in line.split()) for line in out.stdout.splitlines()]
    assert len(rows) == len(xs)
    for x, (m, s, log_q5) in zip(xs, rows):
        assert (m, s) == inv_sqrt_quantized_multiplier_exp(x), x
        if x >= 1 << 19:  # a Q12 sum of exps >= 1.0; its log in Q5 (26 fractional bits)
            assert abs(log_q5 / 2**26 - math.log(x / 2**19)) < 1e-6, x


def _mixed_model(kinds: list[tuple[str, Case]]) -> bytes:
    """One op instance per (op, case), each with its own graph input and output."""
    n = Net()
    ins, outs = [], []
    for i, (opname, c) in enumerate(kinds):
        x = n.tensor(f"x{i}", list(c.shape), c.dtype, scale=c.x_quant[0], zp=c.x_quant[1])
        y = n.tensor(f"y{i}", list(c.shape), c.dtype, scale=c.y_quant[0], zp=c.y_quant[1])
        _add_op(n, opname, [x], [y], c.options)
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


def test_emulated_cortex_m4():
    """Every kernel entry point built for Cortex-M4 and run under QEMU (validate --board), on
    random inputs: the TFLite Micro ops in one model, the TFLite-reference ops in another."""
    import shutil

    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.fail("arm-none-eabi-gcc and qemu-system-arm are needed")
    from edgeconv.checking.validation import validate_bytes

    rng = np.random.default_rng(77)
    micro = _mixed_model(
        [
            ("ABS", abs_case(rng, "int8")),
            ("ABS", abs_case(rng, "int16")),
            ("RSQRT", Case((2, 40), "int8", (0.02, -128), (0.05, -100), np.zeros((2, 40), np.int8))),
            ("ELU", elu_case(rng, "int8")),
            ("LOG_SOFTMAX", log_softmax_case(rng, "int8")),
            ("L2_NORMALIZATION", l2_case(rng, "int8")),
        ]
    )
    report = validate_bytes(micro, "math_micro_m4", samples=3, seed=1, board="cortex-m4")
    assert "tflm" in report.references and report.bit_exact, report.to_dict()
    reference = _mixed_model(
        [
            ("EXP", exp_case(rng, "int8")),
            ("EXP", exp_case(rng, "int16")),
            ("GELU", gelu_case(rng, "int8", False)),
            ("GELU", gelu_case(rng, "int16", True)),
        ]
    )
    report = validate_bytes(reference, "math_reference_m4", samples=3, seed=2, board="cortex-m4")
    assert oracle_is(report, "tflite_ref") and report.bit_exact, report.to_dict()


# ---------------------------------------------------------------------------------------------
# Converter-made models


def _opcodes(data: bytes) -> list[str]:
    return [op.opcode for op in read_tflite_bytes(data).ops]


def _converter_inputs(data: bytes, seed: int, low: int | None = None) -> list[np.ndarray]:
    graph = read_tflite_bytes(data)
    rng = np.random.default_rng(seed)
    out = []
    for i in graph.inputs:
        t = graph.tensors[i]
        info = INFO[t.dtype]
        lo = info.min if low is None else max(info.min, t.quant.zp + low)
        out.append(rng.integers(lo, int(info.max) + 1, size=t.shape).astype(t.dtype))
    return out


FUNCTION_CASES = {
    # name: (function, input shape, calibration range, op, modes)
    "rsqrt": ("rsqrt", (1, 6, 10), (0.05, 4.0), "RSQRT", ("int8", "16x8")),
    "abs": ("abs", (1, 5, 8), (-2.0, 1.0), "ABS", ("int8", "16x8")),
    "exp": ("exp", (2, 7), (-3.0, 1.5), "EXP", ("int8", "16x8")),
    "log": ("log", (1, 6, 10), (0.05, 4.0), "LOG", ("int8", "16x8")),
    "sqrt": ("sqrt", (1, 6, 10), (0.05, 4.0), "SQRT", ("int8",)),
    "softplus": ("softplus", (1, 4, 9), (-3.0, 3.0), "LOG", ("int8", "16x8")),  # EXP, ADD, LOG
    "log_softmax": ("log_softmax", (1, 4, 17), (-3.0, 3.0), "LOG_SOFTMAX", ("int8",)),
    "l2_normalize": ("l2_normalize", (1, 3, 3, 12), (-1.0, 2.0), "L2_NORMALIZATION", ("int8",)),
    "gelu": ("gelu", (1, 9, 6), (-4.0, 3.0), "GELU", ("int8", "16x8")),
    "gelu_tanh": ("gelu_tanh", (1, 9, 6), (-4.0, 3.0), "GELU", ("int8", "16x8")),
}
CONVERTER_PARAMS = [(n, mode) for n in sorted(FUNCTION_CASES) for mode in FUNCTION_CASES[n][4]]


def _fn(name: str):
    import tensorflow as tf

    return {
        "rsqrt": tf.math.rsqrt,
        "abs": tf.abs,
        "exp": tf.exp,
        "log_softmax": tf.nn.log_softmax,
        "log": tf.math.log,
        "softplus": tf.nn.softplus,
        "sqrt": tf.sqrt,
        "l2_normalize": lambda x: tf.math.l2_normalize(x, axis=-1),
        "gelu": lambda x: tf.nn.gelu(x, approximate=False),
        "gelu_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    }[name]


@pytest.mark.parametrize("name,mode", CONVERTER_PARAMS, ids=[f"{n}-{m}" for n, m in CONVERTER_PARAMS])
def test_converter(name, mode):
    fn_name, shape, (low, high), opname, _ = FUNCTION_CASES[name]
    seed = 40 + sorted(FUNCTION_CASES).index(name)
    data = cached_model(
        {"op": "math", "name": name, "mode": mode, "shape": shape, "range": [low, high], "seed": seed},
        lambda: tflite_from_function(_fn(fn_name), [shape], seed=seed, low=low, high=high, mode=mode),
    )
    assert opname in _opcodes(data), f"{name}: the converter emitted {_opcodes(data)}, no {opname}"
    low = 0 if opname in ("RSQRT", "SQRT") else None  # no negative values: both references stop there
    samples = [_converter_inputs(data, seed * 10 + k, low=low) for k in range(4)]
    assert_exact(data, f"{name}-{mode}", ORACLE[opname], samples)


@pytest.mark.parametrize("mode", ["int8", "16x8"])
def test_keras_gelu(mode):
    """activation="gelu" (Keras 3: the exact erf form) and a tanh-approximate Lambda. In int8
    after a Dense layer; in 16x8 on the input itself: TFLite Micro has no GELU, so the oracle is
    TFLite's reference, whose int16 FULLY_CONNECTED rounds differently from TFLite Micro's
    (which edgeconv follows) on a few elements."""
    import tensorflow as tf

    def build() -> bytes:
        seeded_keras(11)
        i = tf.keras.Input((5, 12), batch_size=1)
        x = tf.keras.layers.Dense(8, activation="gelu")(i) if mode == "int8" else tf.keras.layers.Activation("gelu")(i)
        if mode == "int8":
            x = tf.keras.layers.Dense(6)(x)
        x = tf.keras.layers.Lambda(lambda t: tf.keras.activations.gelu(t, approximate=True))(x)
        return tflite_from_keras(tf.keras.Model(i, x), mode=mode, low=-2.0, high=2.0)

    data = cached_model({"op": "math", "name": "keras_gelu_chain", "mode": mode}, build)
    assert _opcodes(data).count("GELU") == 2, _opcodes(data)
    assert_exact(data, f"keras_gelu-{mode}", "tflite", [_converter_inputs(data, 90 + k) for k in range(4)])


# ---------------------------------------------------------------------------------------------
# Float islands: DEQUANTIZE -> ELU / SQUARE (float32) -> QUANTIZE, as the converter writes them


def island_model(float_opcode: str, cases: list[Case]) -> bytes:
    """One DEQUANTIZE -> float op -> QUANTIZE chain per case (int8 in, int8 out)."""
    n = Net()
    ins, outs = [], []
    for i, c in enumerate(cases):
        x = n.tensor(f"x{i}", list(c.shape), "int8", scale=c.x_quant[0], zp=c.x_quant[1])
        f0 = n.tensor(f"f{i}", list(c.shape), "float32")
        f1 = n.tensor(f"g{i}", list(c.shape), "float32")
        y = n.tensor(f"y{i}", list(c.shape), "int8", scale=c.y_quant[0], zp=c.y_quant[1])
        n.op("DEQUANTIZE", [x], [f0])
        _add_op(n, float_opcode, [f0], [f1], {})
        n.op("QUANTIZE", [f1], [y])
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


ISLAND_FUNCTIONS = {
    "ELU": lambda x: np.where(x < 0, np.expm1(np.minimum(x, 0)), x),
    "SQUARE": np.square,
    "NEG": np.negative,
    "FLOOR": np.floor,
    "CEIL": np.ceil,
    "ROUND": np.round,
    "SIN": np.sin,
    "COS": np.cos,
}


@pytest.mark.parametrize("float_opcode", sorted(ISLAND_FUNCTIONS))
def test_float_island_randomized(float_opcode):
    rng = np.random.default_rng([123, sorted(ISLAND_FUNCTIONS).index(float_opcode)])
    x_scale = (-1.5, 0.0) if float_opcode in ("FLOOR", "CEIL", "ROUND") else (-2.7, -0.5)
    cases = [_lut_case_int8(rng, ISLAND_FUNCTIONS[float_opcode], x_scale) for _ in range(12)]
    if float_opcode in ("FLOOR", "CEIL", "ROUND"):  # exact halves: ROUND's ties go to even
        cases[0].x_quant, cases[1].x_quant = (0.5, 3), (0.25, -7)
        cases[0].y_quant, cases[1].y_quant = (0.5, -1), (1.0, 2)
    data = island_model(float_opcode, cases)
    model = compile_bytes(data, "island")
    assert [s.op.opcode for s in model.steps] == [f"DEQUANTIZE+{float_opcode}+QUANTIZE"] * len(cases)
    assert_exact(data, f"island_{float_opcode}", "tflm", [[c.data for c in cases]])


@pytest.mark.parametrize("layer", ["elu", "unit_normalization"])
def test_keras_float_islands(layer):
    """Keras ELU and UnitNormalization in int8 models: the converter keeps ELU and SQUARE in
    float32 between DEQUANTIZE and QUANTIZE; the fused tables make the models compile exactly."""
    import tensorflow as tf

    def build() -> bytes:
        seeded_keras(12)
        i = tf.keras.Input((6, 10), batch_size=1)
        x = tf.keras.layers.Dense(8)(i)
        x = tf.keras.layers.ELU()(x) if layer == "elu" else tf.keras.layers.UnitNormalization()(x)
        return tflite_from_keras(tf.keras.Model(i, x), low=-2.0, high=2.0)

    data = cached_model({"op": "math", "name": f"keras_island_{layer}"}, build)
    expect = "ELU" if layer == "elu" else "SQUARE"
    assert expect in _opcodes(data) and "DEQUANTIZE" in _opcodes(data), _opcodes(data)
    assert_exact(data, f"keras_{layer}", "tflm", [_converter_inputs(data, 70 + k) for k in range(4)])


def test_float_island_chains():
    """DEQUANTIZE -> ELU feeding both a QUANTIZE and SQUARE -> QUANTIZE (Keras ELU followed by
    UnitNormalization), and a three-op path: each QUANTIZE becomes one table of its whole path."""
    rng = np.random.default_rng(321)
    n = Net()
    ins, outs, samples = [], [], []
    for i in range(6):
        c = _lut_case_int8(rng, ISLAND_FUNCTIONS["ELU"], (-2.7, -0.7))
        x = n.tensor(f"x{i}", list(c.shape), "int8", scale=c.x_quant[0], zp=c.x_quant[1])
        f0, f1, f2, f3 = (n.tensor(f"f{i}_{k}", list(c.shape), "float32") for k in range(4))
        y1 = n.tensor(f"y{i}", list(c.shape), "int8", scale=c.y_quant[0], zp=c.y_quant[1])
        y2 = n.tensor(f"z{i}", list(c.shape), "int8", scale=float(np.float32(c.y_quant[0] ** 2 * 40)), zp=-128)
        y3 = n.tensor(f"w{i}", list(c.shape), "int8", scale=float(np.float32(c.y_quant[0] ** 2 * 40)), zp=100)
        n.op("DEQUANTIZE", [x], [f0])
        _add_op(n, "ELU", [f0], [f1], {})
        n.op("QUANTIZE", [f1], [y1])
        _add_op(n, "SQUARE", [f1], [f2], {})
        n.op("QUANTIZE", [f2], [y2])
        _add_op(n, "NEG", [f2], [f3], {})
        n.op("QUANTIZE", [f3], [y3])
        ins.append(x)
        outs.extend([y1, y2, y3])
        samples.append(c.data)
    data = n.finish(ins, outs)
    model = compile_bytes(data, "island_chains")
    assert sorted({s.op.opcode for s in model.steps}) == [
        "DEQUANTIZE+ELU+QUANTIZE",
        "DEQUANTIZE+ELU+SQUARE+NEG+QUANTIZE",
        "DEQUANTIZE+ELU+SQUARE+QUANTIZE",
    ]
    assert_exact(data, "island_chains", "tflm", [samples])


def test_keras_dynamic_batch_islands():
    """A Keras CNN without a fixed batch: Conv2D(activation="elu"), a dilated Conv2D, ELU and
    UnitNormalization (whose SQUARE reads the float ELU output): bit-exact with TFLite Micro."""
    import tensorflow as tf

    def build() -> bytes:
        seeded_keras(5)
        i = tf.keras.Input((8, 8, 3))
        x = tf.keras.layers.Conv2D(4, 3, activation="elu")(i)
        x = tf.keras.layers.Conv2D(4, 3, dilation_rate=2)(x)
        x = tf.keras.layers.ELU()(x)
        return tflite_from_keras(tf.keras.Model(i, tf.keras.layers.UnitNormalization()(x)))

    data = cached_model({"op": "math", "name": "keras_dynamic_islands"}, build)
    model = compile_bytes(data, "keras_dynamic_islands")
    assert "DEQUANTIZE+ELU+SQUARE+QUANTIZE" in [s.op.opcode for s in model.steps]
    # validate writes the inferred shapes into the model TFLite Micro runs (it does not resize).
    from edgeconv.checking.validation import validate_bytes

    report = validate_bytes(data, "keras_dynamic_islands", samples=4, seed=60)
    assert report.oracle == "tflm" and report.bit_exact, report.to_dict()


@pytest.mark.parametrize("activation", ["hard_shrink", "soft_shrink", "sparse_plus"])
def test_keras_dynamic_batch_shrinks(activation):
    """Keras' shrink activations without a fixed batch: the converter leaves `zeros_like` unfolded
    and the SELECT_V2 in float32 (DEQUANTIZE -> ZEROS_LIKE / identity -> SELECT_V2 -> QUANTIZE);
    the QUANTIZE moves onto the select's operands, each becomes a table, and the select is int8.
    Bit-exact with TFLite Micro (op by op where it lacks SELECT)."""
    import tensorflow as tf

    from edgeconv.checking.validation import validate_bytes

    def build() -> bytes:
        seeded_keras(9)
        i = tf.keras.Input((6, 6, 2))
        x = tf.keras.layers.Conv2D(6, 3, activation=activation)(i)
        return tflite_from_keras(tf.keras.Model(i, tf.keras.layers.Conv2D(3, 1)(x)), low=-2.0, high=2.0)

    data = cached_model({"op": "math", "name": f"keras_dynamic_{activation}"}, build)
    model = compile_bytes(data, activation)
    steps = [s.op.opcode for s in model.steps]
    assert "ZEROS_LIKE" in _opcodes(data) and "DEQUANTIZE+ZEROS_LIKE+QUANTIZE" in steps, (_opcodes(data), steps)
    report = validate_bytes(data, activation, samples=8, seed=3)
    assert report.oracle in ("tflm", "tflm_ops") and report.bit_exact, report.to_dict()


def test_float_island_not_fused():
    """A float tensor read twice (or a model output) stays float: the op is refused."""
    n = Net()
    x = n.tensor("x", [1, 8], "int8", scale=0.05, zp=0)
    f0 = n.tensor("f0", [1, 8], "float32")
    f1 = n.tensor("f1", [1, 8], "float32")
    y = n.tensor("y", [1, 8], "int8", scale=0.05, zp=0)
    n.op("DEQUANTIZE", [x], [f0])
    _add_op(n, "ELU", [f0], [f1], {})
    n.op("QUANTIZE", [f1], [y])
    with pytest.raises(ModelError, match="FLOAT32"):
        compile_bytes(n.finish([x], [y, f1]), "island_output")


# ---------------------------------------------------------------------------------------------
# Refusals


def _case(dtype: str, xq=(0.05, 0), yq=(0.05, 0), shape=(1, 8), options=None) -> Case:
    return Case(shape, dtype, xq, yq, np.zeros(shape, dtype=dtype), options or {})


REFUSED = {
    # name: (op, case, words in the message)
    "elu_int16": ("ELU", _case("int16"), ["INT16"]),  # TFLite Micro stops in Eval; TFLite lacks ELU
    "log_softmax_int16": ("LOG_SOFTMAX", _case("int16", yq=(1 / 4096, 0)), ["INT16"]),  # neither runs it
    "l2_int16": ("L2_NORMALIZATION", _case("int16", yq=(1 / 32768, 0)), ["INT16"]),  # neither runs it
    "log_softmax_output_scale": ("LOG_SOFTMAX", _case("int8", yq=(0.1, 127)), ["16/256", "127"]),
    "log_softmax_output_zp": ("LOG_SOFTMAX", _case("int8", yq=(16 / 256, 0)), ["16/256", "127"]),
    "log_softmax_depth": ("LOG_SOFTMAX", _case("int8", yq=(16 / 256, 127), shape=(1, 4096)), ["4095"]),
    "log_softmax_input_scale": ("LOG_SOFTMAX", _case("int8", xq=(40.0, 0), yq=(16 / 256, 127)), ["input scale"]),
    "log_softmax_tiny_scale": ("LOG_SOFTMAX", _case("int8", xq=(1e-9, 0), yq=(16 / 256, 127)), ["input scale"]),
    "l2_output_quant": ("L2_NORMALIZATION", _case("int8", yq=(0.01, 0)), ["1/128"]),
    "l2_activation": (
        "L2_NORMALIZATION",
        _case("int8", yq=(1 / 128, 0), options={"fusedActivationFunction": 1}),
        ["activation"],
    ),
    "l2_rank5": ("L2_NORMALIZATION", _case("int8", yq=(1 / 128, 0), shape=(1, 1, 2, 2, 3)), ["rank 5"]),
    "l2_depth": (
        "L2_NORMALIZATION",
        _case("int8", xq=(0.1, -128), yq=(1 / 128, 0), shape=(1, 33026)),
        ["sum of squares"],
    ),
    "abs_int16_zp": ("ABS", _case("int16", xq=(0.05, 3)), ["zero points"]),
    "rsqrt_int16_zp": ("RSQRT", _case("int16", yq=(0.05, -2)), ["zero points"]),
    "exp_int16_zp": ("EXP", _case("int16", xq=(0.001, 1)), ["zero points"]),
    "exp_table_overflow": ("EXP", _case("int8", xq=(0.5, -128), yq=(1e-6, 0)), ["undefined"]),
    "sqrt_int16": ("SQRT", _case("int16"), ["INT16"]),
    "rsqrt_range": ("RSQRT", _case("int8", xq=(1e-6, -128), yq=(1e-30, 0)), ["out of range"]),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused(name):
    opname, case, words = REFUSED[name]
    with pytest.raises(ModelError) as info:
        compile_bytes(one_op_model(opname, [case]), name)
    message = str(info.value)
    assert opname in message and all(w in message for w in words), message


def test_structure_refused():
    """opchecks: one input, one output; options of the op's own table only."""
    n = Net()
    a = n.tensor("a", [1, 4], "int8", scale=0.1, zp=0)
    b = n.tensor("b", [1, 4], "int8", scale=0.1, zp=0)
    y = n.tensor("y", [1, 4], "int8", scale=0.1, zp=0)
    _add_op(n, "ABS", [a, b], [y], {})
    with pytest.raises(ModelError, match="ABS takes 1"):
        compile_bytes(n.finish([a, b], [y]), "two_inputs")
    n = Net()
    a = n.tensor("a", [1, 4], "int8", scale=0.1, zp=0)
    y = n.tensor("y", [1, 4], "int8", scale=0.1, zp=0)
    _add_op(n, "GELU", [a], [y], {})
    n.sg.operators[0].builtinOptionsType = schema().BuiltinOptions.L2NormOptions
    n.sg.operators[0].builtinOptions = schema().L2NormOptionsT()
    with pytest.raises(ModelError, match="GeluOptions"):
        compile_bytes(n.finish([a], [y]), "wrong_options")
