"""EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL (bool out), SELECT_V2 and SELECT.

Comparisons of int8 (TFLite Micro, comparisons.cc ComparisonsPrepare): both inputs are brought
to a common scale before comparing, each (x - zp) * 2^8 through
MultiplyByQuantizedMultiplierSmallerThanOneExp by QuantizeMultiplierSmallerThanOneExp(scale),
the tensor's own scale. TFLite Micro aborts (TFLITE_CHECK) on a scale of 1 or more, or on an
unquantized input (scale 0), so both are refused. The rescale can map distinct raw values to
one value (scales below 2^-8), so it is done exactly as TFLite does, never skipped. With
|x - zp| <= 255, the shifted value is below 2^16 and stays in int32.

int16: TFLite Micro runs only GREATER, with ComparisonParams its Prepare never fills (it sets
them for int8 only), so its result is whatever the persistent arena held (all false in the
tflite_micro build: every rescaled value is 0), while TFLite's reference compares the raw
values: GREATER on int16 is refused. TFLite Micro refuses the other five on int16, and TFLite's
reference kernels (LiteRT 2.3) compare the raw int16 values, quantization unread: those five
are compiled that way, with the reference as the oracle.

int32 and int64 (an ARG_MAX index against a constant, say): both references compare the raw
values, every comparison.

Broadcasting follows ADD's compile-time loop plan (ops/elementwise.broadcast_loops).

SELECT_V2 (TFLite Micro select.cc, int8 and int16): output = condition ? x : y element-wise,
raw values (no quantization is read), condition, x and y broadcast against each other; the
three-way loop plan is computed here (select_loops). When all four tensors hold one element
TFLite Micro copies that element whatever the shapes ("mixed scalars").

SELECT (version 1, what the converter writes for tf.where(c, a, b)): TFLite Micro lacks it, so
TFLite's reference kernels are the oracle; it is SELECT_V2's copy with a narrower shape rule
(select_v1_loops), for int8 and int16.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, UnsupportedOpError
from edgeconv.lowering.ops.base import DTYPE_SUFFIX, Kernel, fail, lowering, require_dtype, require_quant
from edgeconv.lowering.ops.elementwise import MAX_LOOPS, broadcast_loops, merged_loops
from quantize.fixedpoint import quantize_multiplier_smaller_than_one_exp

# The kernel's `op` field (c_runtime/ec_compare.h EC_CMP_*).
COMPARISONS = {"EQUAL": 0, "NOT_EQUAL": 1, "GREATER": 2, "GREATER_EQUAL": 3, "LESS": 4, "LESS_EQUAL": 5}
SYMBOLS = {"EQUAL": "==", "NOT_EQUAL": "!=", "GREATER": ">", "GREATER_EQUAL": ">=", "LESS": "<", "LESS_EQUAL": "<="}
INT16_COMPARISONS = ("EQUAL", "NOT_EQUAL", "GREATER_EQUAL", "LESS", "LESS_EQUAL")  # not GREATER: see above
COMPARE_LEFT_SHIFT = 8  # TFLite's kLeftShift for 8-bit comparisons


@lowering(*COMPARISONS)
def lower_comparison(graph: Graph, op: Op) -> Kernel:
    x0, x1 = (graph.tensors[i] for i in op.inputs)
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x0, "int8", "int16", "int32", "int64")
    if x1.dtype != x0.dtype:
        raise fail(graph, op, f"input types {x0.dtype.upper()} and {x1.dtype.upper()} differ")
    if y.dtype != "bool":
        raise fail(graph, op, f"output {y.describe()} has type {y.dtype.upper()}; comparisons write BOOL")
    loops = broadcast_loops(graph, op, x0.shape, x1.shape, y.shape)
    params: dict = dict(**loops, op=COMPARISONS[op.opcode])
    if x0.dtype in ("int32", "int64"):
        # Both references compare int32 and int64 raw (ComparisonImpl / NoScaling), e.g. an
        # ARG_MAX index against a constant.
        params.update(
            in0_offset=0, in1_offset=0, left_shift=0, in0_multiplier=0, in0_shift=0, in1_multiplier=0, in1_shift=0
        )
    elif x0.dtype == "int16":
        if op.opcode not in INT16_COMPARISONS:
            raise UnsupportedOpError(
                f"{op.describe(graph)}: GREATER on INT16 is not supported: TFLite Micro runs it with requantization "
                "parameters it never sets (its answer depends on its arena), "
                "while TFLite's reference compares raw values"
            )
        # TFLite's reference compares the raw values (Comparison<int16_t>), quantization unread.
        params.update(
            in0_offset=0, in1_offset=0, left_shift=0, in0_multiplier=0, in0_shift=0, in1_multiplier=0, in1_shift=0
        )
    else:
        for position, t in enumerate((x0, x1)):
            q = require_quant(graph, op, t)
            if not 0.0 < float(q.s) < 1.0:
                raise fail(
                    graph,
                    op,
                    f"input {position} scale {float(q.s):g} is not below 1: TFLite Micro's "
                    "QuantizeMultiplierSmallerThanOneExp aborts on it",
                )
        m0, sh0 = quantize_multiplier_smaller_than_one_exp(float(x0.quant.s))
        m1, sh1 = quantize_multiplier_smaller_than_one_exp(float(x1.quant.s))
        params.update(
            in0_offset=-x0.quant.zp,
            in1_offset=-x1.quant.zp,
            left_shift=COMPARE_LEFT_SHIFT,
            in0_multiplier=m0,
            in0_shift=sh0,
            in1_multiplier=m1,
            in1_shift=sh1,
        )
    return Kernel(
        func=f"ec_compare_{DTYPE_SUFFIX[x0.dtype]}",
        unit="ec_compare",
        params_type="ec_compare_params_t",
        params=params,
        inputs=[x0.index, x1.index],
        outputs=[y.index],
        summary=f"{list(x0.shape)} {SYMBOLS[op.opcode]} {list(x1.shape)}",
    )


def select_loops(graph: Graph, op: Op, shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> dict:
    """The loop nest over `out` for SELECT_V2's condition, x and y: out_dims and
    cond_strides / x_strides / y_strides (elements, 0 along a broadcast dimension), at most
    MAX_LOOPS loops, outermost first; adjacent dimensions merged where all three inputs walk
    them contiguously (or not at all). Checks TFLite Micro's CheckBroadcastShape."""
    if len(out) != max(len(s) for s in shapes):
        raise fail(graph, op, f"output rank {len(out)} is not the largest input rank")
    loops = merged_loops(graph, op, shapes, out)
    return dict(
        out_dims=[loop[0] for loop in loops],
        cond_strides=[loop[1] for loop in loops],
        x_strides=[loop[2] for loop in loops],
        y_strides=[loop[3] for loop in loops],
    )


def select_v1_loops(
    graph: Graph, op: Op, c: tuple[int, ...], x: tuple[int, ...], y: tuple[int, ...], out: tuple[int, ...]
) -> dict:
    """SELECT (version 1, TFLite's reference select.cc): condition, x and y of one shape, or x
    and y of one shape with a scalar condition or a rank-1 condition over x's first
    dimension (RankOneSelect: condition[i] picks x's or y's whole slice i). Both become a
    broadcast of the condition, shaped (n, 1, ..., 1) in the rank-1 case. The output is x's
    shape."""
    if tuple(out) != tuple(x):
        raise fail(graph, op, f"output shape {list(out)} is not x's {list(x)}")
    if tuple(c) == tuple(x) == tuple(y):
        return select_loops(graph, op, [c, x, y], out)
    if tuple(x) != tuple(y):
        raise fail(graph, op, f"x {list(x)} and y {list(y)} differ in shape; SELECT requires one shape")
    if len(c) == 0:
        return select_loops(graph, op, [c, x, y], out)
    if len(c) == 1 and len(x) >= 1 and c[0] == x[0]:
        return select_loops(graph, op, [(c[0],) + (1,) * (len(x) - 1), x, y], out)
    raise fail(
        graph,
        op,
        f"condition {list(c)} is neither x's shape {list(x)}, a scalar, nor a vector over x's "
        "first dimension (what SELECT accepts; SELECT_V2 broadcasts)",
    )


@lowering("SELECT_V2", "SELECT")
def lower_select(graph: Graph, op: Op) -> Kernel:
    c, x, yv = (graph.tensors[i] for i in op.inputs)
    out = graph.tensors[op.outputs[0]]
    if c.dtype != "bool":
        raise fail(graph, op, f"condition {c.describe()} has type {c.dtype.upper()}; TFLite requires BOOL")
    require_dtype(graph, op, x, "int8", "int16")
    if not yv.dtype == out.dtype == x.dtype:
        raise fail(
            graph, op, f"x, y and output types {x.dtype.upper()}, {yv.dtype.upper()}, {out.dtype.upper()} differ"
        )
    sizes = [int(np.prod(t.shape, dtype=np.int64)) for t in (c, x, yv, out)]
    if op.opcode == "SELECT":
        loops = select_v1_loops(graph, op, c.shape, x.shape, yv.shape, out.shape)
    elif all(s == 1 for s in sizes):
        # TFLite Micro's "possible mixed scalar": one element, whatever the ranks.
        loops = dict(
            out_dims=[1] * MAX_LOOPS, cond_strides=[0] * MAX_LOOPS, x_strides=[0] * MAX_LOOPS, y_strides=[0] * MAX_LOOPS
        )
    else:
        loops = select_loops(graph, op, [c.shape, x.shape, yv.shape], out.shape)
    return Kernel(
        func=f"ec_select_{DTYPE_SUFFIX[x.dtype]}",  # SELECT and SELECT_V2 share the kernel
        unit="ec_select",
        params_type="ec_select_params_t",
        params=loops,
        inputs=[c.index, x.index, yv.index],
        outputs=[out.index],
        summary=f"{list(c.shape)} ? {list(x.shape)} : {list(yv.shape)}",
    )
