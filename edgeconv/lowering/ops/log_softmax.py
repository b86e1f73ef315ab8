"""LOG_SOFTMAX (int8), parameters as TFLite Micro's log_softmax.cc CalculateOpData computes
them; the kernel (c_runtime/ec_log_softmax.c) is its reference_ops::LogSoftmaxQuantized.
int16 is refused: neither TFLite Micro nor TFLite's reference runs it.
"""

from __future__ import annotations

import math

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import Kernel, fail, lowering
from edgeconv.lowering.ops.lut import same_shape_io
from quantize.fixedpoint import (
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one_exp,
)

_SCALED_DIFF_INTEGER_BITS = 5  # kScaledDiffIntegerBits: the differences in Q5
_MAX_DEPTH = 4095  # 4095 exps of at most 2^19 (1.0 in Q12) sum below 2^31
_OUTPUT_SCALE = np.float32(16.0 / 256)
_OUTPUT_ZERO_POINT = 127


def log_softmax_scaling(input_scale: float) -> tuple[int, int, int, int, int]:
    """PreprocessLogSoftmaxScalingExp(beta 1, input scale, 5) and CalculateInputRadius:
    (input multiplier, left shift, reverse scaling divisor, its shift (<= 0), diff_min).
    ValueError where TFLite's Prepare stops (its CHECKs) or shifts out of range."""
    real = min(1.0 * float(input_scale) * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier_greater_than_one(real)  # ValueError unless real > 1
    if left_shift > 30:
        # 1 << (31 - left_shift) below is undefined in TFLite for a shift of 32.
        raise ValueError(f"input scale {input_scale:g} is too large (left shift {left_shift})")
    reverse_real = (1 << (31 - left_shift)) / float(multiplier)
    divisor, divisor_shift = quantize_multiplier_smaller_than_one_exp(reverse_real)
    radius = math.floor(
        1.0 * ((1 << _SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - _SCALED_DIFF_INTEGER_BITS)) / (1 << left_shift)
    )
    return multiplier, left_shift, divisor, divisor_shift, -radius


@lowering("LOG_SOFTMAX")
def lower_log_softmax(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8",))
    if np.float32(y.quant.s) != _OUTPUT_SCALE or y.quant.zp != _OUTPUT_ZERO_POINT:
        raise fail(
            graph,
            op,
            f"int8 output must have scale 16/256 and zero point 127 (has {y.quant.s:g}, "
            f"{y.quant.zp}); TFLite requires it",
        )
    if not x.shape:
        raise fail(graph, op, "needs an input of rank 1 or more (it works along the last dimension)")
    depth = int(x.shape[-1])
    if depth > _MAX_DEPTH:
        raise fail(
            graph,
            op,
            f"last dimension {depth} is too large: TFLite's Q12 sum of exps can overflow int32 beyond {_MAX_DEPTH}",
        )
    try:
        multiplier, left_shift, divisor, divisor_shift, diff_min = log_softmax_scaling(x.quant.s)
    except ValueError as exc:
        raise fail(graph, op, f"input scale {x.quant.s:g} is outside what TFLite's kernel computes ({exc})") from None
    # ec_log_softmax_params_t's fields; like softmax.py's, but kept apart: each C params struct has its own fields,
    # which this dict must match one for one
    return Kernel(
        func="ec_log_softmax_s8",
        unit="ec_log_softmax",
        params_type="ec_log_softmax_params_t",
        params=dict(
            rows=x.size // depth if depth else 0,
            depth=depth,
            input_multiplier=multiplier,
            input_left_shift=left_shift,
            reverse_scaling_divisor=divisor,
            reverse_scaling_shift=divisor_shift,
            diff_min=diff_min,
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"depth {depth}",
    )
