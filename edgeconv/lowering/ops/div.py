"""DIV on int8 (and unquantized int32): TFLite Micro's DIV (kernels/div.cc, reference_ops::Div
and BroadcastDivSlow), bit for bit.

Per element TFLite divides with a Newton-Raphson reciprocal of the divisor (GetReciprocal),
rescales the numerator to full int32 precision (CountLeadingSignBits), multiplies, and rounds
by a shift that depends on both values (c_runtime/ec_div.c spells it out). The reciprocal
depends on the divisor value alone, so it is tabulated here for the 256 int8 divisor values
(with TFLite's shift minus the output's: recip, recip_exp); a DIV by a constant that is one
value (x / c), or of a constant that is one value (c / x), depends on one int8 input only and
becomes a 256-entry table (ec_lut_s8) with the same arithmetic evaluated here.

The output multiplier is input1_scale / (input2_scale * output_scale) as TFLite Micro's build
computes it: in double (its source reads float32 arithmetic widened to double; the
tflite_micro package behaves as double, which a 256 x 256 sweep of every value pair tells
apart: 0.05 / (0.04 * 0.1) gives 1677721638 in double, 1677721600 in float32 and then 1699
elements differ). TFLite's reference kernels form it in float32 and differ by one at exact
ties; edgeconv follows TFLite Micro.

Undefined in TFLite, so refused at compile time:
- a final rounding shift outside [0, 31] for some numerator and divisor the model can feed
  (runtime inputs can hold any int8 value; constants their own): TFLite shifts by a negative
  amount or by 32 bits or more. With a runtime divisor this happens when the output
  multiplier is below 64 (a numerator at its zero point has 31 sign bits, a divisor of
  magnitude 128 or more adds 7), where TFLite Micro's x86 build gives (x >> (e - 32)) + 1
  for x >= 0 (e.g. zp + 1 for 0 / 200, or a saturated value) and its Arm builds other values.
  Softsign's DIV (x / (1 + |x|)) has a multiplier of about 256.
- a constant divisor holding its zero point: a certain division by zero (TFLite's reference
  stops with an error).
A runtime divisor at its zero point is a division by zero too: TFLite's reference stops with
an error, TFLite Micro computes GetReciprocal(0) (0 shifted left by 32 bits, which is 0 on
every target, then the Newton-Raphson reciprocal of -1.0: -1515870788) and gives a saturated
value of the numerator's sign; edgeconv tabulates that reciprocal and gives the same outputs.

int16 is refused: TFLite Micro runs DIV on int8 only, and TFLite's reference runs int16 through
two different arithmetics (float32 without broadcasting, the integer one with it).

int32 (unquantized, as TFLite Micro requires) is C's truncating division and the fused
activation's clamp. A zero divisor and INT32_MIN / -1 are undefined (TFLite Micro's x86 build
dies with SIGFPE, TFLite's reference refuses a zero divisor at run time); the kernel gives
what a Cortex-M's SDIV gives there (0, and INT32_MIN), and a constant divisor holding 0 is
refused.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import (
    CArray,
    Kernel,
    fail,
    fused_activation_range,
    lowering,
    requantize_multiplier,
    require_dtype,
    require_quant,
)
from edgeconv.lowering.ops.elementwise import broadcast_loops
from edgeconv.lowering.ops.lut import lut_kernel
from quantize.fixedpoint import (
    count_leading_sign_bits,
    get_reciprocal,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)

INT8_VALUES = np.arange(-128, 128)


def div_q(n: int, d: int, multiplier: int, shift: int, output_zp: int, act_min: int, act_max: int) -> int:
    """TFLite's DivElementwise for one numerator n = x0 - zp0 and divisor d = x1 - zp1, as
    c_runtime/ec_div.c computes it (its final shift is in [0, 31]: the lowering checks)."""
    if d < 0:
        n, d = -n, -d
    inv, recip_shift = get_reciprocal(d, 31)
    headroom = count_leading_sign_bits(n)
    unscaled = saturating_rounding_doubling_high_mul(n << headroom, inv)
    scaled = saturating_rounding_doubling_high_mul(unscaled, multiplier)
    result = wrap_int32(rounding_divide_by_pot(scaled, headroom + recip_shift - shift) + output_zp)
    return min(max(result, act_min), act_max)


def _values(t: Tensor) -> np.ndarray:
    """The values x - zp the tensor can hold: a constant's own, any int8 value otherwise."""
    raw = np.unique(t.data.astype(np.int64)) if t.data is not None else INT8_VALUES
    return raw - t.quant.zp


def _recip_shift(d: int) -> int:
    return get_reciprocal(abs(d), 31)[1]


def _check_shifts(graph: Graph, op: Op, numerators: np.ndarray, divisors: np.ndarray, shift: int, real: float) -> None:
    """Refuse the op if TFLite's final rounding shift leaves [0, 31] for a reachable pair."""
    h_pos = np.array([count_leading_sign_bits(int(n)) for n in numerators])
    h_neg = np.array([count_leading_sign_bits(int(-n)) for n in numerators])
    for d in divisors:
        h = h_neg if d < 0 else h_pos
        e = h + _recip_shift(int(d)) - shift
        if e.max() > 31 or e.min() < 0:
            small = bool(e.max() > 31)
            bad = int(np.argmax(e)) if small else int(np.argmin(e))
            hint = " (a non-constant divisor needs at least 64)" if small else ""
            raise fail(
                graph,
                op,
                f"numerator {int(numerators[bad])} / divisor {int(d)} (values minus zero points) "
                f"makes TFLite's final rounding shift {int(e[bad])} bits, outside [0, 31]: undefined "
                f"in TFLite (its builds disagree); the output multiplier "
                f"input1_scale / (input2_scale * output_scale) = {real:g} is too "
                f"{'small' if small else 'large'}{hint}",
            )


# CalculateActivationRange<int32_t>: RELU, RELU_N1_TO_1, RELU6 as plain integer bounds.
_INT32_ACTIVATIONS = {0: (-(1 << 31), (1 << 31) - 1), 1: (0, (1 << 31) - 1), 2: (-1, 1), 3: (0, 6)}


def _div_s32(graph: Graph, op: Op, x0: Tensor, x1: Tensor, y: Tensor, loops: dict, act: int) -> Kernel:
    """Unquantized int32 DIV (TFLite Micro's Prepare refuses quantized int32 inputs)."""
    for t in (x0, x1):
        if t.quant is not None:
            raise fail(
                graph, op, f"{t.describe()} is quantized; TFLite Micro runs int32 DIV on unquantized tensors only"
            )
    if x1.data is not None and np.any(x1.data == 0):
        raise fail(graph, op, f"the constant divisor {x1.describe()} holds 0: a division by zero")
    act_min, act_max = _INT32_ACTIVATIONS[act]
    return Kernel(
        func="ec_div_s32",
        unit="ec_div",
        params_type="ec_div_s32_params_t",
        params=dict(**loops, act_min=act_min, act_max=act_max),
        inputs=[x0.index, x1.index],
        outputs=[y.index],
        summary=f"{list(x0.shape)} / {list(x1.shape)} (int32, truncating)",
    )


@lowering("DIV")
def lower_div(graph: Graph, op: Op) -> Kernel:
    if len(op.inputs) != 2 or min(op.inputs) < 0 or len(op.outputs) != 1:
        raise fail(graph, op, f"expects 2 inputs and 1 output, has {len(op.inputs)} and {len(op.outputs)}")
    x0, x1 = (graph.tensors[i] for i in op.inputs)
    y = graph.tensors[op.outputs[0]]
    if not x0.dtype == x1.dtype == y.dtype:
        raise fail(
            graph,
            op,
            f"input types {x0.dtype.upper()}, {x1.dtype.upper()} and output type "
            f"{y.dtype.upper()} differ; TFLite requires one type",
        )
    for t in (x0, x1, y):
        require_dtype(graph, op, t, "int8", "int32")
    loops = broadcast_loops(graph, op, x0.shape, x1.shape, y.shape)
    act = int(op.options.get("fused_activation_function", 0))
    if act not in (0, 1, 2, 3):
        raise UnsupportedOpError(f"{op.describe(graph)}: fused activation {act} is not supported")
    if y.dtype == "int32":
        return _div_s32(graph, op, x0, x1, y, loops, act)
    for t in (x0, x1, y):
        require_quant(graph, op, t)
    act_min, act_max = fused_activation_range(graph, op, act, y)
    # div.cc: static_cast<double>(s1 / (s2 * so)); the tflite_micro build behaves as double.
    real = float(x0.quant.s) / (float(x1.quant.s) * float(y.quant.s))
    multiplier, shift = requantize_multiplier(graph, op, real, "output")
    if x1.data is not None and np.any(x1.data.astype(np.int64) == x1.quant.zp):
        raise fail(
            graph,
            op,
            f"the constant divisor {x1.describe()} holds its zero point {x1.quant.zp}: a division "
            "by zero (TFLite's reference stops with an error there)",
        )
    numerators, divisors = _values(x0), _values(x1)
    _check_shifts(graph, op, numerators, divisors, shift, real)
    summary = f"{list(x0.shape)} / {list(x1.shape)}"

    def table(fn) -> np.ndarray:
        t = np.zeros(256, dtype=np.int8)
        for v in range(-128, 128):
            t[v & 0xFF] = fn(v)
        return t

    q = dict(multiplier=multiplier, shift=shift, output_zp=y.quant.zp, act_min=act_min, act_max=act_max)
    if divisors.size == 1 and tuple(y.shape) == tuple(x0.shape):
        d = int(divisors[0])
        return lut_kernel(x0, y, table(lambda v: div_q(v - x0.quant.zp, d, **q)), summary + " (constant divisor)")
    if numerators.size == 1 and x0.data is not None and tuple(y.shape) == tuple(x1.shape):
        n = int(numerators[0])
        return lut_kernel(x1, y, table(lambda v: div_q(n, v - x1.quant.zp, **q)), summary + " (constant numerator)")
    recip = np.zeros(256, dtype=np.int64)
    recip_exp = np.zeros(256, dtype=np.int64)
    for v in range(-128, 128):
        inv, recip_shift = get_reciprocal(abs(v - x1.quant.zp), 31)
        recip[v & 0xFF], recip_exp[v & 0xFF] = inv, recip_shift - shift
    assert recip.min() > -(1 << 31) and recip_exp.min() >= -128 and recip_exp.max() <= 127
    return Kernel(
        # ec_div_params_t's fields; like elementwise.py's ADD/MUL, but kept apart: each C params struct has its own
        # fields, which this dict must match one for one
        func="ec_div_s8",
        unit="ec_div",
        params_type="ec_div_params_t",
        params=dict(
            **loops,
            in0_offset=-x0.quant.zp,
            in1_offset=-x1.quant.zp,
            output_offset=y.quant.zp,
            output_multiplier=multiplier,
            act_min=act_min,
            act_max=act_max,
            recip=CArray("int32_t", recip.astype(np.int32), "recip", program_memory=True),
            recip_exp=CArray("int8_t", recip_exp.astype(np.int8), "recip_exp", program_memory=True),
        ),
        inputs=[x0.index, x1.index],
        outputs=[y.index],
        summary=summary,
    )
