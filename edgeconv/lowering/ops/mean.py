"""MEAN and SUM (int8 or int16 in, the same type out) over any set of axes, keep_dims or not.

TFLite Micro has one integer path for both, whatever the axes (reduce_common.cc ->
reference_ops::QuantizedMeanOrSum): sum the raw values of each output's window into an int32,
subtract input_zp * count, and requantize with MultiplyByQuantizedMultiplier by the Q31
multiplier QuantizeMultiplier(double(in_scale) / double(out_scale)) (PrepareMeanOrSumHelper).
For MEAN it first folds 1/count into that multiplier, at every Eval; here that is done once at
compile time with the same integer arithmetic (fold_count). SUM (compute_sum) skips the fold.
int16 takes the same path with int16 data and the same int32 accumulator.

TFLite's reference kernels differ where TFLite Micro is the oracle: for int16 they require
zero points 0 (the converter always writes 0), for MEAN with equal input and output
quantization they divide the int32 sum by count in C (reference_ops::Mean), and SUM with equal
quantization (or int16) adds the raw values in the tensor's own type. edgeconv follows TFLite
Micro everywhere.

Older TFLite Micro releases had a second int8 path for 4-D inputs reduced over axes 1 and 2
with keep_dims (reference_integer_ops::Mean); the TFLite Micro this project validates against
(reduce_common.cc, with an empty integer_ops/mean.h) no longer has it.

`reduction` computes what every reduction kernel needs (REDUCE_MAX/MIN in ops/reduce.py too):
the resolved axes, the input's dims and each dimension's step in the output, and it checks
the output shape against TFLite's ResizeOutputTensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import DTYPE_SUFFIX, Kernel, const_input, fail, lowering, quant_io
from edgeconv.lowering.ops.ranges import require_int32
from quantize.fixedpoint import quantize_multiplier

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


@dataclass
class Reduction:
    """The geometry of one reduction: `dims` and `out_strides` right-aligned into MAX_DIMS
    (leading 1s and 0s), the output's element count and the elements per output."""

    axes: list[int]
    dims: list[int]
    out_strides: list[int]
    num_outputs: int
    count: int
    keep_dims: bool


def reduction(graph: Graph, op: Op, x: Tensor, y: Tensor) -> Reduction:
    """Resolve the constant axis input (position 1) and check y's shape as TFLite's Prepare
    computes it (ResizeOutputTensor): reduced axes become 1 with keep_dims, else drop."""
    axis_data = const_input(graph, op, 1, "axis")
    rank = len(x.shape)
    if rank > MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: input rank {rank} exceeds {MAX_DIMS}")
    axes = resolve_axes(graph, op, axis_data, rank)
    dims = [int(d) for d in x.shape]
    keep = bool(op.options.get("keep_dims", False))
    if keep:
        expected = [1 if i in axes else d for i, d in enumerate(dims)]
    else:
        expected = [d for i, d in enumerate(dims) if i not in axes]
    if list(y.shape) != expected:
        raise fail(
            graph,
            op,
            f"output shape {list(y.shape)} is not {expected}, what reducing {dims} over axes "
            f"{axes}{' with keep_dims' if keep else ''} gives",
        )
    count = int(np.prod([dims[a] for a in axes], dtype=np.int64)) if axes else 1
    num_outputs = int(np.prod(expected, dtype=np.int64)) if expected else 1
    # Output stride of every kept dimension; reduced dimensions do not move in the output.
    out_strides = [0] * rank
    step = 1
    for i in reversed(range(rank)):
        if i not in axes:
            out_strides[i] = step
            step *= dims[i]
    pad = MAX_DIMS - rank
    return Reduction(axes, [1] * pad + dims, [0] * pad + out_strides, num_outputs, count, keep)


def _mean_or_sum(graph: Graph, op: Op, compute_sum: bool) -> Kernel:
    x, y, xq, yq = quant_io(graph, op)
    r = reduction(graph, op, x, y)
    count = 0 if x.size == 0 else r.count  # QuantizedMeanOrSum returns the zeroed output first

    if yq.s <= 0 or xq.s <= 0:
        raise fail(graph, op, f"has a non-positive scale (input {xq.s}, output {yq.s})")
    multiplier, shift = quantize_multiplier(float(xq.s) / float(yq.s))
    if not compute_sum:
        multiplier, shift = fold_count(multiplier, shift, count)
    # fold_count keeps multiplier <= the Q31 one (it multiplies by 2^s and divides by
    # count >= 2^s) and shift >= -31 (s <= 31 + shift): ec_requantize's shifts stay in range.
    require_int32(graph, op, **{"the folded multiplier": multiplier})
    if shift < -31:
        raise fail(graph, op, f"its requantization shift {shift} is below -31")
    if shift > 30:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: input/output scale ratio {xq.s / yq.s:g} needs a left shift of {shift} "
            "(TFLite's MultiplyByQuantizedMultiplier allows at most 30)"
        )
    what = "sum" if compute_sum else "mean"
    # ec_mean_params_t's fields; like activations.py's kernels in shape only: kept apart: each C params struct has its
    # own fields, which this dict must match one for one
    return Kernel(
        func=f"ec_mean_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_mean",
        params_type="ec_mean_params_t",
        params=dict(
            dims=r.dims,
            out_strides=r.out_strides,
            num_outputs=r.num_outputs,
            count=count,
            input_zp=xq.zp,
            output_zp=yq.zp,
            multiplier=multiplier,
            shift=shift,
        ),
        inputs=[x.index],
        outputs=[y.index],
        scratch_bytes=4 * max(r.num_outputs, 1),
        summary=f"{what} axes {r.axes}{' keep_dims' if r.keep_dims else ''} over {count}",
    )


@lowering("MEAN")
def lower_mean(graph: Graph, op: Op) -> Kernel:
    return _mean_or_sum(graph, op, compute_sum=False)


@lowering("SUM")
def lower_sum(graph: Graph, op: Op) -> Kernel:
    """SUM is MEAN without the 1/count fold: the same kernel (TFLite Micro's EvalSumHelper runs
    QuantizedMeanOrSum with compute_sum=true for int8 and int16)."""
    return _mean_or_sum(graph, op, compute_sum=True)
