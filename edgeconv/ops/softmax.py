"""SOFTMAX (int8 -> int8), parameters as TFLite Micro's CalculateSoftmaxParams."""

from __future__ import annotations

import math

from quantize.fixedpoint import quantize_multiplier_greater_than_one

from ..ir import Graph, Op
from .base import int8_io, Kernel, fail, lowering

_SCALED_DIFF_INTEGER_BITS = 5


def softmax_input_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling and CalculateInputRadius: (multiplier, left_shift, diff_min)."""
    real = min(float(beta) * float(input_scale) * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier_greater_than_one(real)
    radius = math.floor(
        1.0 * ((1 << _SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - _SCALED_DIFF_INTEGER_BITS)) / (1 << left_shift)
    )
    return multiplier, left_shift, -radius


@lowering("SOFTMAX")
def lower_softmax(graph: Graph, op: Op) -> Kernel:
    x, y, xq, yq = int8_io(graph, op)
    if yq.zp != -128 or yq.s != 1.0 / 256:
        raise fail(graph, op, f"int8 output must have scale 1/256 and zero point -128 (has {yq.s}, {yq.zp})")
    if x.shape != y.shape or not x.shape:
        raise fail(graph, op, f"input {list(x.shape)} and output {list(y.shape)} differ")
    beta = float(op.options.get("beta", 1.0))
    real = float(beta) * float(xq.s) * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS))
    if not (math.isfinite(real) and real > 1.0):
        # TFLite's QuantizeMultiplierGreaterThanOne checks the same and stops.
        raise fail(graph, op, f"beta {beta:g} times the input scale {xq.s:g} is too small (or not positive): "
                              "TFLite's softmax needs beta * scale > 2^-26")
    # diff_min is TFLite's input radius: every difference the kernel rescales satisfies
    # |diff| * 2^left_shift <= 31 * 2^26 < 2^31 (see c_runtime/ec_softmax.c).
    multiplier, left_shift, diff_min = softmax_input_scaling(beta, xq.s)
    depth = x.shape[-1]
    return Kernel(
        func="ec_softmax_s8",
        unit="ec_softmax",
        params_type="ec_softmax_params_t",
        params=dict(rows=x.size // depth if depth else 0, depth=depth, input_multiplier=multiplier,
                    input_left_shift=left_shift, diff_min=diff_min),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"beta {beta:g}",
    )
