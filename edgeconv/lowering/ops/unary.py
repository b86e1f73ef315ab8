"""ABS and RSQRT, int8 and int16, as TFLite Micro computes them (micro/kernels/elementwise.cc);
SQRT int8 as TFLite's reference computes it (TFLite Micro runs SQRT in float32 only).

int8: the kernel's integer arithmetic is evaluated here for each of the 256 inputs and emitted
as a table (c_runtime/ec_lut.c). int16 (zero points 0, as TFLite Micro requires): the same
arithmetic at run time (c_runtime/ec_elementwise_unary.c). For int16 RSQRT TFLite's reference
kernel uses an interpolated table instead and differs by 1 LSB on some inputs; edgeconv
follows TFLite Micro.
"""

from __future__ import annotations

import math

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor
from edgeconv.lowering.ops.base import Kernel, fail, lowering, requantize_multiplier
from edgeconv.lowering.ops.lut import lut_kernel, same_shape_io
from quantize.fixedpoint import (
    f32_div,
    inv_sqrt_quantized_multiplier_exp,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    wrap_int32,
)

_RSQRT_Q = 20  # TFLite's kShift: 1 / sqrt(x) is first made a Q20 integer


def _require_zero_points_0(graph: Graph, op: Op, x: Tensor, y: Tensor) -> None:
    if x.dtype == "int16" and (x.quant.zp != 0 or y.quant.zp != 0):
        raise fail(
            graph,
            op,
            f"int16 zero points must be 0 (has input {x.quant.zp}, output {y.quant.zp}); TFLite Micro requires it",
        )


@lowering("ABS")
def lower_abs(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8", "int16"))
    _require_zero_points_0(graph, op, x, y)
    # PrepareAbsRsqrt: rescale only if the float32 scales differ; multiplier of the float32 quotient.
    needs_rescale = np.float32(x.quant.s) != np.float32(y.quant.s)
    ratio = f32_div(x.quant.s, y.quant.s)
    m, shift = requantize_multiplier(graph, op, ratio, "input/output") if needs_rescale else (0, 0)
    summary = f"rescale {ratio:g}" if needs_rescale else "same scale"
    if x.dtype == "int16":
        return Kernel(
            func="ec_abs_s16",
            unit="ec_elementwise_unary",
            params_type="ec_abs_params_t",
            params=dict(size=x.size, needs_rescale=int(needs_rescale), multiplier=m, shift=shift),
            inputs=[x.index],
            outputs=[y.index],
            summary=summary,
        )
    table = np.zeros(256, dtype=np.int8)
    for v in range(-128, 128):
        value = abs(v - x.quant.zp)
        out = (
            wrap_int32(multiply_by_quantized_multiplier(value, m, shift) + y.quant.zp)
            if needs_rescale
            else value + y.quant.zp
        )
        table[v & 0xFF] = min(max(out, -128), 127)
    return lut_kernel(x, y, table, summary)


def rsqrt_q(value: int, multiplier: int, shift: int, output_zp: int, qmin: int, qmax: int) -> int:
    """TFLite Micro's RsqrtEvalQuantized for one input value (x - input zero point); shift is
    the op's QuantizeMultiplier shift minus 20. A negative value (TFLite Micro stops with an
    error) gives what the arithmetic gives for 1, as c_runtime/ec_elementwise_unary.c does."""
    if value == 0:
        return qmax
    inv_m, inv_shift = inv_sqrt_quantized_multiplier_exp(value, -1)
    q20 = multiply_by_quantized_multiplier(1, inv_m, inv_shift + _RSQRT_Q)
    out = wrap_int32(multiply_by_quantized_multiplier(q20, multiplier, shift) + output_zp)
    return min(max(out, qmin), qmax)


@lowering("RSQRT")
def lower_rsqrt(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8", "int16"))
    _require_zero_points_0(graph, op, x, y)
    # SetRsqrtOutputMultiplier: 1 / double(sqrtf(s_in) * s_out), the product in float32.
    with np.errstate(all="ignore"):
        product = float(np.sqrt(np.float32(x.quant.s)) * np.float32(y.quant.s))
    real = 1.0 / product if product > 0 else math.inf
    if not math.isfinite(real):
        raise fail(
            graph, op, f"1 / (sqrt(input scale) * output scale) is not finite (scales {x.quant.s:g}, {y.quant.s:g})"
        )
    m, shift = quantize_multiplier(real)
    shift -= _RSQRT_Q
    if not -31 <= shift <= 30:
        raise fail(
            graph,
            op,
            f"1 / (sqrt(input scale) * output scale) = {real:g} is out of range for TFLite's "
            "arithmetic (its final shift would be outside [-31, 30])",
        )
    summary = f"multiplier {real:g}"
    if x.dtype == "int16":
        return Kernel(
            func="ec_rsqrt_s16",
            unit="ec_elementwise_unary",
            params_type="ec_rsqrt_params_t",
            params=dict(size=x.size, multiplier=m, shift=shift, output_zp=y.quant.zp),
            inputs=[x.index],
            outputs=[y.index],
            summary=summary,
        )
    table = np.zeros(256, dtype=np.int8)
    for v in range(-128, 128):
        table[v & 0xFF] = rsqrt_q(v - x.quant.zp, m, shift, y.quant.zp, -128, 127)
    return lut_kernel(x, y, table, summary)


@lowering("SQRT")
def lower_sqrt(graph: Graph, op: Op) -> Kernel:
    """TFLite's SqrtEvalQuantized, tabulated: dequantized = s_in * float(x - zp) (float32),
    (int)(sqrtf(dequantized) / s_out) + zp (truncated, not rounded), clamped. TFLite stops with
    an error on a negative dequantized input; its entries hold the output for 0. int16 is
    refused: TFLite computes it in float at run time, which the integer kernels do not."""
    x, y = same_shape_io(graph, op, ("int8",))
    f = np.float32
    table = np.zeros(256, dtype=np.int8)
    with np.errstate(all="ignore"):
        for v in range(-128, 128):
            dequantized = max(f(x.quant.s) * f(v - x.quant.zp), f(0))
            q = np.sqrt(dequantized) / f(y.quant.s)
            if not (math.isfinite(q) and q < 2.0**31):
                raise fail(
                    graph,
                    op,
                    f"sqrt of input {v} divided by the output scale {y.quant.s:g} does not fit "
                    "int32; TFLite's conversion is undefined there",
                )
            table[v & 0xFF] = min(max(int(q) + y.quant.zp, -128), 127)
    return lut_kernel(x, y, table, "table of sqrt")
