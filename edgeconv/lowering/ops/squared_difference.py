"""SQUARED_DIFFERENCE: (x0 - x1)^2 on int8 or int16, with broadcasting.

TFLite Micro's squared_difference.cc (the oracle for both types) rescales each input as ADD
does, with left shift 7 for int8 (255^2 * 2^14 still fits int32) and 0 for int16 (whose zero
points it requires to be 0): scaled_i = MultiplyByQuantizedMultiplierSmallerThanOneExp((x_i -
zp_i) * 2^left_shift, m_i, shift_i) with m_i from s_i / (2 max(s0, s1)); then it squares the
difference of the two and requantizes by twice_max^2 / (2^(2 left_shift) * s_out), formed as
TFLite forms it: the numerator in double, the denominator a float32 product (exact: a power of
two times the scale) widened to double. Broadcasting is planned at compile time (ADD's
ops/elementwise.broadcast_loops).

Ranges: |x - zp| <= 255 (int8, the reader bounds zero points) or 32768 (int16), so the shifted
values are below 2^15 and 2^16 in magnitude; each rescale multiplies by at most 1/2 (rounded),
so |scaled_0 - scaled_1| <= 32768 and its square <= 2^30 fits int32. The output requantization
is ec_requantize with a shift in [-31, 30] (base.requantize_multiplier refuses larger left
shifts); its result plus the output zero point is added wrapping, as TFLite's + does.
"""

from __future__ import annotations

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import (
    DTYPE_SUFFIX,
    Kernel,
    fail,
    lowering,
    requantize_multiplier,
    require_dtype,
    require_quant,
)
from edgeconv.lowering.ops.elementwise import broadcast_loops
from quantize.fixedpoint import f32_mul, quantize_multiplier_smaller_than_one_exp

LEFT_SHIFT = {"int8": 7, "int16": 0}


@lowering("SQUARED_DIFFERENCE")
def lower_squared_difference(graph: Graph, op: Op) -> Kernel:
    x0, x1 = (graph.tensors[i] for i in op.inputs)
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x0, "int8", "int16")
    if not x1.dtype == y.dtype == x0.dtype:
        raise fail(
            graph, op, f"input types {x0.dtype.upper()}, {x1.dtype.upper()} and output type {y.dtype.upper()} differ"
        )
    q0, q1, qo = (require_quant(graph, op, t) for t in (x0, x1, y))
    if x0.dtype == "int16" and (q0.zp or q1.zp or qo.zp):
        raise fail(graph, op, "int16 zero points must be 0 (TFLite Micro's Prepare requires it)")
    left_shift = LEFT_SHIFT[x0.dtype]
    s0, s1, so = float(q0.s), float(q1.s), float(qo.s)
    twice_max = 2.0 * max(s0, s1)
    m0, sh0 = quantize_multiplier_smaller_than_one_exp(s0 / twice_max)  # in (0, 1/2]: never refused
    m1, sh1 = quantize_multiplier_smaller_than_one_exp(s1 / twice_max)
    # TFLite: (twice_max * twice_max) / static_cast<double>((1 << left_shift * 2) * output_scale),
    # whose denominator is an int times a float, i.e. a float32 product.
    real_out = (twice_max * twice_max) / f32_mul(float(1 << (2 * left_shift)), so)
    mo, sho = requantize_multiplier(graph, op, real_out, "output")
    # Like elementwise.py's ADD fields (the same rescaling), but its own struct without activation bounds or tables:
    # kept apart: each C params struct has its own fields, which this dict must match one for one
    return Kernel(
        func=f"ec_squared_difference_{DTYPE_SUFFIX[x0.dtype]}",
        unit="ec_squared_difference",
        params_type="ec_squared_difference_params_t",
        params=dict(
            **broadcast_loops(graph, op, x0.shape, x1.shape, y.shape),
            in0_offset=-q0.zp,
            in1_offset=-q1.zp,
            output_offset=qo.zp,
            left_shift=left_shift,
            in0_multiplier=m0,
            in0_shift=sh0,
            in1_multiplier=m1,
            in1_shift=sh1,
            output_multiplier=mo,
            output_shift=sho,
        ),
        inputs=[x0.index, x1.index],
        outputs=[y.index],
        summary=f"({list(x0.shape)} - {list(x1.shape)})^2",
    )
