"""Parity of DIV on int8 (edgeconv/lowering/ops/div.py, c_runtime/ec_div.c) with TFLite Micro, the oracle.

Each randomized case is one DIV instance with its own seeded shapes, quantization, fused
activation and constants; a model holds several independent instances (graph inputs and an
output each), so one C build and one TFLite Micro run check many cases. Random int8 inputs
hit the divisor's zero point (a division by zero) on about one element in 256: TFLite's
reference stops with an error there, TFLite Micro computes a value, and edgeconv equals it.
A sweep model feeds all 65536 (numerator, divisor) pairs for several quantizations.

Every case's scales keep TFLite's final rounding shift in [0, 31] for every value pair its
inputs can hold (output multiplier >= 64 for a non-constant divisor, smaller with a small
constant divisor); outside that TFLite is undefined and edgeconv refuses the op
(test_refused). The converter's form of Keras softsign (ABS, ADD, DIV) is checked through
the real converter, and one model on the emulated Cortex-M4. Every value pair at the shift
limits runs clean under ASan and UBSan. Unquantized int32 DIV (truncating) is checked against
TFLite Micro too, and its two undefined quotients (x / 0, INT32_MIN / -1) against the values
ec_div_s32 documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from edgeconv.emit.emitter import emit
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.targets.hostbuild import build_and_load
from modelgen import assert_bit_exact, assert_exact, cached_model, seeded_keras, tflite_from_keras
from mutants import Net


@dataclass
class Case:
    shape0: tuple[int, ...]
    shape1: tuple[int, ...]
    out_shape: tuple[int, ...]
    q0: tuple[float, int]
    q1: tuple[float, int]
    qo: tuple[float, int]
    act: int = 0
    const0: np.ndarray | None = None  # a constant numerator, else a graph input
    const1: np.ndarray | None = None  # a constant divisor, else a graph input
    dtype: str = "int8"


def _add_div(net: Net, inputs: list[int], outputs: list[int], act: int) -> None:
    """One DIV operator with DivOptions (tests/mutants.py's Net.op does not know DIV)."""
    net.add_op("DIV", inputs, outputs, "DivOptions", fusedActivationFunction=act)


def div_model(cases: list[Case]) -> bytes:
    """One DIV per case; its non-constant operands are graph inputs, in case order."""
    n = Net()
    ins, outs = [], []
    for i, c in enumerate(cases):
        a = n.tensor(f"a{i}", list(c.shape0), c.dtype, scale=c.q0[0], zp=c.q0[1], data=c.const0)
        b = n.tensor(f"b{i}", list(c.shape1), c.dtype, scale=c.q1[0], zp=c.q1[1], data=c.const1)
        y = n.tensor(f"y{i}", list(c.out_shape), c.dtype, scale=c.qo[0], zp=c.qo[1])
        _add_div(n, [a, b], [y], c.act)
        ins += [t for t, const in ((a, c.const0), (b, c.const1)) if const is None]
        outs.append(y)
    return n.finish(ins, outs)


def assert_exact_tflm(data: bytes, label: str, samples: list[list[np.ndarray]]) -> None:
    """Our C equals TFLite Micro on every element of every output, for each sample."""
    assert_exact(data, label, "tflm", samples)


def case_inputs(cases: list[Case], rng) -> list[np.ndarray]:
    """One sample for div_model(cases): each divisor uniform over int8 (its zero point
    included), each numerator half uniform, half near its zero point (quotients that do not
    saturate at the multipliers DIV needs)."""
    out = []
    for c in cases:
        if c.const0 is None:
            wide = rng.integers(-128, 128, size=c.shape0)
            near = c.q0[1] + np.rint(rng.normal(0.0, rng.uniform(1, 24), size=c.shape0))
            out.append(np.clip(np.where(rng.random(c.shape0) < 0.5, wide, near), -128, 127).astype(np.int8))
        if c.const1 is None:
            out.append(rng.integers(-128, 128, size=c.shape1).astype(np.int8))
    return out


# ---------------------------------------------------------------------------------------------
# Randomized cases


def _log_uniform(rng, low: float, high: float) -> float:
    return float(np.float32(10.0 ** rng.uniform(low, high)))


def _quant(rng, min_multiplier: float = 64.0, max_multiplier: float = 1024.0):
    """Input and output quantizations with input1_scale / (input2_scale * output_scale) in
    [min_multiplier, max_multiplier]."""
    s0, s1 = _log_uniform(rng, -3, 0), _log_uniform(rng, -3, 0)
    real = 2.0 ** rng.uniform(np.log2(min_multiplier) + 0.01, np.log2(max_multiplier))
    so = float(np.float32(s0 / (s1 * real)))
    zp = rng.integers(-128, 128, size=3)
    return (s0, int(zp[0])), (s1, int(zp[1])), (so, int(zp[2]))


def _broadcast_shapes(rng) -> tuple[tuple[int, ...], tuple[int, ...]]:
    rank = int(rng.integers(1, 5))
    out = [int(d) for d in rng.integers(2, 6, size=rank)]
    a = [d if rng.random() < 0.6 else 1 for d in out]
    b = [d if rng.random() < 0.6 else 1 for d in out]
    a = a[int(rng.integers(0, rank)) :] if rng.random() < 0.3 else a  # a lower rank, right-aligned
    b = b[int(rng.integers(0, rank)) :] if rng.random() < 0.3 else b
    return tuple(a) or (1,), tuple(b) or (1,)


def _out(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(a, b))


def _const_divisor(rng, shape, zp: int, magnitude: int = 255) -> np.ndarray:
    """Constant int8 values, none at the zero point, with |value - zp| <= magnitude."""
    lo, hi = max(-128, zp - magnitude), min(127, zp + magnitude)
    values = rng.integers(lo, hi + 1, size=shape)
    values[values == zp] = zp + 1 if zp + 1 <= hi else zp - 1
    return values.astype(np.int8)


def random_case(rng, kind: str) -> Case:
    q0, q1, qo = _quant(rng)
    act = int(rng.choice([0, 0, 0, 1, 2, 3]))
    if kind == "same":
        shape = tuple(int(d) for d in rng.integers(1, 9, size=int(rng.integers(1, 5))))
        return Case(shape, shape, shape, q0, q1, qo, act)
    if kind == "broadcast":
        a, b = _broadcast_shapes(rng)
        return Case(a, b, _out(a, b), q0, q1, qo, act)
    if kind == "scalar_divisor":  # a runtime scalar: the divisor is constant along every run
        a = tuple(int(d) for d in rng.integers(1, 7, size=3))
        return Case(a, (1,), a, q0, q1, qo, act)
    if kind == "const_divisor_one_value":  # x / c: a 256-entry table
        a = tuple(int(d) for d in rng.integers(1, 7, size=3))
        shape1 = (1,) if rng.random() < 0.5 else (1, 1, 1)
        c = np.full(shape1, _const_divisor(rng, (1,), q1[1])[0], dtype=np.int8)
        return Case(a, shape1, _out(a, shape1), q0, q1, qo, act, const1=c)
    if kind == "const_divisor_tensor":  # per-channel constants: the general kernel
        a = tuple(int(d) for d in rng.integers(1, 6, size=3)) + (int(rng.integers(2, 9)),)
        b = (a[-1],)
        return Case(a, b, a, q0, q1, qo, act, const1=_const_divisor(rng, b, q1[1]))
    if kind == "const_divisor_small":  # |d| <= 7 allows output multipliers from 4 to 64
        q0, q1, qo = _quant(rng, 4.0, 64.0)
        a = tuple(int(d) for d in rng.integers(1, 7, size=2))
        b = (a[-1],)
        return Case(a, b, a, q0, q1, qo, act, const1=_const_divisor(rng, b, q1[1], magnitude=7))
    if kind == "const_numerator_one_value":  # c / x: a 256-entry table of the divisor
        b = tuple(int(d) for d in rng.integers(1, 7, size=2))
        c = np.full((1,), rng.integers(-128, 128), dtype=np.int8)
        return Case((1,), b, b, q0, q1, qo, act, const0=c)
    raise ValueError(kind)


KINDS = [
    "same",
    "broadcast",
    "scalar_divisor",
    "const_divisor_one_value",
    "const_divisor_tensor",
    "const_divisor_small",
    "const_numerator_one_value",
]


@pytest.mark.parametrize("seed", range(3))
def test_randomized(seed):
    """Every kind of case, three random instances each (21 per model, 63 over the seeds),
    every case bit-exact on 4 random samples."""
    rng = np.random.default_rng(1000 + seed)
    cases = [random_case(rng, kind) for kind in KINDS for _ in range(3)]
    data = div_model(cases)
    samples = [case_inputs(cases, rng) for _ in range(4)]
    assert_exact_tflm(data, f"div_random_{seed}", samples)


def test_every_value_pair():
    """All 65536 (numerator, divisor) pairs, zero divisors included, for several quantizations
    and fused activations, same-shape (Div) and broadcast (BroadcastDivSlow)."""
    rng = np.random.default_rng(7)
    quants = [
        ((0.02, -10), (0.03, 7), (0.004, 1), 0),
        ((0.5, 100), (0.003, -128), (0.01, 127), 3),
        ((0.01, 0), (0.01, -128), (0.0078, 0), 0),
        ((0.1, -128), (0.05, 127), (0.00005, -3), 1),
    ]
    quants += [(*_quant(rng), int(rng.integers(0, 4))) for _ in range(2)]
    cases = [Case((256, 256), (256, 256), (256, 256), q0, q1, qo, act) for q0, q1, qo, act in quants]
    cases += [Case((256, 1), (1, 256), (256, 256), *quants[0][:3], 2)]
    data = div_model(cases)
    a = np.repeat(np.arange(-128, 128), 256).astype(np.int8).reshape(256, 256)
    b = np.tile(np.arange(-128, 128), 256).astype(np.int8).reshape(256, 256)
    inputs = [a, b] * len(quants) + [
        np.arange(-128, 128).astype(np.int8).reshape(256, 1),
        np.arange(-128, 128).astype(np.int8).reshape(1, 256),
    ]
    assert_exact_tflm(data, "div_sweep", [inputs])


# ---------------------------------------------------------------------------------------------
# The converter's form: Keras softsign = x / (1 + |x|)


def _softsign_model() -> bytes:
    def build() -> bytes:
        import tensorflow as tf

        seeded_keras(3)
        i = tf.keras.Input((8, 8, 3))
        x = tf.keras.layers.Conv2D(6, 3, padding="same")(i)
        x = tf.keras.layers.Activation("softsign")(x)
        return tflite_from_keras(tf.keras.Model(i, x), low=-2.0, high=2.0)

    return cached_model({"op": "div", "name": "keras_conv_softsign"}, build)


def test_keras_softsign():
    data = _softsign_model()
    ops = [op.opcode for op in read_tflite_bytes(data).ops]
    assert ops == ["CONV_2D", "ABS", "ADD", "DIV"], ops
    assert_bit_exact(data, "keras_softsign", samples=20)


def test_emulated_cortex_m4():
    """ec_div_s8 (broadcasting, runtime and constant divisors) and the table path built for
    Cortex-M4 and run under QEMU (validate --board), against TFLite Micro."""
    import shutil

    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.fail("arm-none-eabi-gcc and qemu-system-arm are needed")
    from edgeconv.checking.validation import validate_bytes

    rng = np.random.default_rng(77)
    cases = [random_case(rng, kind) for kind in KINDS]
    report = validate_bytes(div_model(cases), "div_m4", samples=3, seed=1, board="cortex-m4")
    assert "tflm" in report.references and report.oracle == "tflm" and report.bit_exact, report.to_dict()


# ---------------------------------------------------------------------------------------------
# Refusals: one line naming the op


def _refusal(case: Case) -> str:
    with pytest.raises(ModelError) as info:
        compile_bytes(div_model([case]), "div_refused")
    message = str(info.value)
    assert "DIV" in message and "\n" not in message and "Error" not in message, message
    return message


Q = ((0.05, 0), (0.02, 3), (0.0002, -1))  # output multiplier 12500


def test_refused():
    # The divisor's scale makes the output multiplier too large for TFLite's arithmetic.
    assert "left shift" in _refusal(Case((4,), (4,), (4,), (1.0, 0), (1e-12, 0), (1e-12, 0)))
    # A multiplier below 64 with a non-constant divisor: 0 / 200 shifts by 32 bits or more.
    assert "outside [0, 31]" in _refusal(Case((4,), (4,), (4,), (0.05, 2), (0.04, 3), (0.1, -5)))
    # ... and so large that TFLite would shift by a negative amount.
    assert "outside [0, 31]" in _refusal(Case((4,), (4,), (4,), (1.0, 0), (1e-4, 0), (1e-5, 0)))
    # A constant divisor holding its zero point.
    assert "zero point" in _refusal(Case((4,), (4,), (4,), *Q, const1=np.array([3, 4, 5, 6], np.int8)))
    # int16: TFLite Micro runs DIV on int8 only.
    assert "INT16" in _refusal(Case((4,), (4,), (4,), (0.05, 0), (0.02, 0), (0.0002, 0), dtype="int16"))
    # Quantized int32: TFLite Micro runs int32 DIV unquantized only.
    assert "unquantized" in _refusal(Case((4,), (4,), (4,), (1.0, 0), (1.0, 0), (1.0, 0), dtype="int32"))
    # Shapes that do not broadcast.
    assert "broadcast" in _refusal(Case((4,), (3,), (4,), *Q))


def test_refused_structure():
    n = Net()
    a = n.tensor("a", [4], "int8", scale=0.05, zp=0)
    y = n.tensor("y", [4], "int8", scale=0.05, zp=0)
    _add_div(n, [a], [y], 0)
    with pytest.raises(ModelError) as info:
        compile_bytes(n.finish([a], [y]), "div_one_input")
    assert "DIV" in str(info.value), info.value


def test_sanitized():
    """All 65536 value pairs (zero divisors included) at the quantizations closest to the
    refusal limits (output multiplier just above 64: final shifts up to 31; a large one:
    shifts down to 0), plus random cases, built with ASan and UBSan: clean, same outputs."""
    from edgeconv.checking.validation import Sample
    from sanitized import sanitized_equal

    rng = np.random.default_rng(11)
    limits = [
        ((0.064, 0), (0.01, -128), (0.1, 5), 0),
        ((0.1, 127), (0.001, 127), (0.0000305, -128), 0),
        ((0.01, -128), (0.001, 0), (0.0000031, 0), 1),
    ]
    cases = [Case((256, 256), (256, 256), (256, 256), q0, q1, qo, act) for q0, q1, qo, act in limits]
    cases += [random_case(rng, kind) for kind in KINDS]
    data = div_model(cases)
    a = np.repeat(np.arange(-128, 128), 256).astype(np.int8).reshape(256, 256)
    b = np.tile(np.arange(-128, 128), 256).astype(np.int8).reshape(256, 256)

    def samples(specs):
        return [Sample([a, b] * len(limits) + case_inputs(cases[len(limits) :], rng), f"sweep {k}") for k in range(2)]

    sanitized_equal(data, "div_sanitized", samples)
    assert_exact_tflm(data, "div_limits", [s.arrays for s in samples(None)])


# ---------------------------------------------------------------------------------------------
# int32 (unquantized): truncating division


def int32_model(shapes: list[tuple[tuple[int, ...], tuple[int, ...], int]]) -> bytes:
    n = Net()
    ins, outs = [], []
    for k, (sa, sb, act) in enumerate(shapes):
        a, b = n.tensor(f"a{k}", list(sa), "int32"), n.tensor(f"b{k}", list(sb), "int32")
        y = n.tensor(f"y{k}", list(_out(sa, sb)), "int32")
        _add_div(n, [a, b], [y], act)
        ins += [a, b]
        outs.append(y)
    return n.finish(ins, outs)


def test_int32():
    """Random broadcast shapes and activations; numerators over all of int32 (INT32_MIN
    included), divisors small and large of both signs, never 0 and never -1 against INT32_MIN
    (TFLite Micro dies with SIGFPE on both)."""
    rng = np.random.default_rng(32)
    shapes = [(*_broadcast_shapes(rng), int(rng.integers(0, 4))) for _ in range(8)]
    data = int32_model(shapes)

    def sample():
        out = []
        for sa, sb, _ in shapes:
            a = rng.integers(-(2**31), 2**31, size=sa, dtype=np.int64)
            a.flat[: min(3, a.size)] = [-7, 7, -(2**31)][: min(3, a.size)]
            big = rng.integers(-(2**31), 2**31, size=sb, dtype=np.int64)
            b = np.where(rng.random(sb) < 0.5, rng.integers(-9, 10, size=sb), big)
            b[b == 0] = 3
            b[b == -1] = -2
            out += [a.astype(np.int32), b.astype(np.int32)]
        return out

    assert_exact_tflm(data, "div_s32", [sample() for _ in range(4)])


def test_int32_undefined():
    """Where TFLite's int32 division is undefined (a zero divisor, INT32_MIN / -1) the kernel
    gives a Cortex-M's SDIV results, 0 and INT32_MIN, without undefined behaviour."""
    from edgeconv.checking.validation import Sample
    from sanitized import sanitized_equal

    data = int32_model([((6,), (6,), 0)])
    a = np.array([5, -5, 0, -(2**31), -(2**31), 2**31 - 1], dtype=np.int32)
    b = np.array([0, 0, 0, -1, 1, -1], dtype=np.int32)
    model = compile_bytes(data, "div_s32_undefined")
    out = build_and_load(model, emit(model)).run([a, b])[0]
    assert out.tolist() == [0, 0, 0, -(2**31), -(2**31), -(2**31 - 1)], out
    sanitized_equal(data, "div_s32_undefined", lambda specs: [Sample([a, b], "undefined quotients")])


def test_placeholder_output_shape():
    """A stored output shape that is a placeholder (converters write them): the output takes
    the broadcast shape TFLite's Prepare computes, and the op stays bit-exact."""
    case = Case((2, 1, 3), (4, 1), (1, 4, 3), (0.05, -3), (0.02, 4), (0.0005, 1))  # batch 1 stored
    data = div_model([case])
    model = compile_bytes(data, "div_placeholder")
    assert tuple(model.graph.tensors[model.graph.outputs[0]].shape) == (2, 4, 3)
    assert_bit_exact(data, "div_placeholder", samples=4)
