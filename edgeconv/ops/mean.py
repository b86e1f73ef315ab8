"""MEAN (int8 -> int8) over any set of axes, keep_dims or not.

TFLite Micro has one int8 path for MEAN whatever the axes (reduce_common.cc ->
reference_ops::QuantizedMeanOrSum): sum the raw values of each output's window into an int32,
subtract input_zp * count, and requantize with MultiplyByQuantizedMultiplier by a multiplier
into which 1/count has been folded. The Q31 multiplier is QuantizeMultiplier(double(in_scale) /
double(out_scale)) as in PrepareMeanOrSumHelper, and the folding of 1/count, which TFLite does
at every Eval, is done here once at compile time with the same integer arithmetic.

Older TFLite Micro releases had a second int8 path for 4-D inputs reduced over axes 1 and 2
with keep_dims (reference_integer_ops::Mean); the TFLite Micro this project validates against
(reduce_common.cc, with an empty integer_ops/mean.h) no longer has it, and TFLite's reference
kernels agree with the general path on every case tested (tests/test_ops_shape.py).
"""

from __future__ import annotations

import numpy as np

from quantize.fixedpoint import quantize_multiplier

from ..ir import Graph, Op, UnsupportedOpError
from .base import int8_io, Kernel, const_input, fail, lowering
from .ranges import require_int32

MAX_DIMS = 6  # EC_MAX_DIMS in c_runtime/ec_common.h


def resolve_axes(graph: Graph, op: Op, axes: np.ndarray, rank: int) -> list[int]:
    """reference_ops::ResolveAxis: negative axes wrap, duplicates drop, order is kept."""
    if rank == 0:
        return []  # TFLite short-circuits scalars: the axis goes unused
    out: list[int] = []
    for a in np.asarray(axes).reshape(-1).tolist():
        cur = int(a) + rank if int(a) < 0 else int(a)
        if not 0 <= cur < rank:
            raise fail(graph, op, f"reduction axis {int(a)} is out of range for rank {rank}")
        if cur not in out:
            out.append(cur)
    return out


def fold_count(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's 'readapt output rescaling' for a mean over `count` elements."""
    if count <= 0:
        return multiplier, shift
    s = count.bit_length() - 1  # 63 - CountLeadingZeros(uint64(count))
    s = min(s, 32)
    s = min(s, 31 + shift)
    return int((multiplier << s) // count), shift - s


@lowering("MEAN")
def lower_mean(graph: Graph, op: Op) -> Kernel:
    x, y, xq, yq = int8_io(graph, op)
    axis_data = const_input(graph, op, 1, "axis")
    rank = len(x.shape)
    if rank > MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: input rank {rank} exceeds {MAX_DIMS}")
    axes = resolve_axes(graph, op, axis_data, rank)

    dims = [int(d) for d in x.shape]
    count = int(np.prod([dims[a] for a in axes], dtype=np.int64)) if axes else 1
    kept = [d for i, d in enumerate(dims) if i not in axes]
    num_outputs = int(np.prod(kept, dtype=np.int64)) if kept else 1
    if num_outputs != y.size:
        raise fail(graph, op, f"output {list(y.shape)} has {y.size} elements; reducing {list(x.shape)} "
                              f"over axes {axes} gives {num_outputs}")
    if x.size == 0:
        count = 0  # QuantizedMeanOrSum returns the zeroed output before reducing anything

    if yq.s <= 0 or xq.s <= 0:
        raise fail(graph, op, f"has a non-positive scale (input {xq.s}, output {yq.s})")
    multiplier, shift = quantize_multiplier(float(xq.s) / float(yq.s))
    multiplier, shift = fold_count(multiplier, shift, count)
    # fold_count keeps multiplier <= the Q31 one (it multiplies by 2^s and divides by
    # count >= 2^s) and shift >= -31 (s <= 31 + shift): ec_requantize's shifts stay in range.
    require_int32(graph, op, **{"the folded multiplier": multiplier})
    if shift < -31:
        raise fail(graph, op, f"its requantization shift {shift} is below -31")
    if shift > 30:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: input/output scale ratio {xq.s / yq.s:g} needs a left shift of {shift} "
            "(TFLite's MultiplyByQuantizedMultiplier allows at most 30)")

    # Output stride of every kept dimension; reduced dimensions do not move in the output.
    out_strides = [0] * rank
    step = 1
    for i in reversed(range(rank)):
        if i not in axes:
            out_strides[i] = step
            step *= dims[i]
    pad = MAX_DIMS - rank
    keep = bool(op.options.get("keep_dims", False))
    return Kernel(
        func="ec_mean_s8",
        unit="ec_mean",
        params_type="ec_mean_params_t",
        params=dict(
            dims=[1] * pad + dims, out_strides=[0] * pad + out_strides, num_outputs=num_outputs,
            count=count, input_zp=xq.zp, output_zp=yq.zp, multiplier=multiplier, shift=shift,
        ),
        inputs=[x.index],
        outputs=[y.index],
        scratch_bytes=4 * max(num_outputs, 1),
        summary=f"axes {axes}{' keep_dims' if keep else ''} over {count}",
    )
