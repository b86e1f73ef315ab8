"""BATCH_MATMUL, int8 and int16, lowered to ec_batch_matmul_s8 / _s16 (run-time RHS) or
ec_batch_matmul_s8_c / _s16_c (constant RHS, stored transposed here) in
c_runtime/ec_batch_matmul.c.

As TFLite Micro (batch_matmul.cc, reference_ops::BatchMatMul): LHS [..., M, K] ([..., K, M]
with adj_x), RHS [..., K, N] ([..., N, K] with adj_y), ranks 2 to 5, batch dimensions
broadcast (right-aligned, size 1 against any); one per-tensor multiplier from
GetQuantizedConvolutionMultipler without bias (the product of the two input scales divided by
the output's, in double as the tflite_micro build computes it; TFLite's reference forms the
product in float32 and can differ by 1); no fused activation (the output type's range). int8 sums (L - zl) * (R - zr)
in int32; int16 needs all zero points 0 and sums in int64, requantized with TFLite's 64-bit
MultiplyByQuantizedMultiplier. TFLite Micro's flattening of the batch dimensions when the RHS
has one matrix (ReshapeToFlattenBatchDimsIfPossible) computes the same products, so this
module implements the definition.

Broadcasting is resolved here into two tables: for each output matrix, the element offset of
the LHS and RHS matrix it reads.
"""

from __future__ import annotations

import itertools

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import (
    CArray,
    Kernel,
    fail,
    lowering,
    qrange,
    requantize_multiplier,
    require_dtype,
    require_quant,
)
from edgeconv.lowering.ops.mac import INT32_MAX, MAX_S64_SHIFT, S64_ACC_LIMIT
from edgeconv.lowering.ops.ranges import check_requantize


def broadcast_offsets(lhs_batch: list[int], rhs_batch: list[int], lhs_matrix: int, rhs_matrix: int):
    """Right-aligned broadcast of two batch shapes: (output batch shape, per output matrix the
    element offset of its LHS matrix and of its RHS matrix). None if they do not broadcast."""
    rank = max(len(lhs_batch), len(rhs_batch))
    lb = [1] * (rank - len(lhs_batch)) + list(lhs_batch)
    rb = [1] * (rank - len(rhs_batch)) + list(rhs_batch)
    out = []
    for a, b in zip(lb, rb):
        if a != b and a != 1 and b != 1:
            return None
        out.append(b if a == 1 else a)

    def strides(dims, matrix):
        s, step = [], matrix
        for d in reversed(dims):
            s.append(step if d != 1 else 0)
            step *= d
        return list(reversed(s))

    ls, rs = strides(lb, lhs_matrix), strides(rb, rhs_matrix)
    lhs_off, rhs_off = [], []
    for idx in itertools.product(*[range(d) for d in out]):
        lhs_off.append(sum(i * s for i, s in zip(idx, ls)))
        rhs_off.append(sum(i * s for i, s in zip(idx, rs)))
    return out, lhs_off or [0], rhs_off or [0]


@lowering("BATCH_MATMUL")
def lower_batch_matmul(graph: Graph, op: Op) -> Kernel:
    if len(op.inputs) != 2:
        raise fail(graph, op, f"has {len(op.inputs)} inputs; BATCH_MATMUL takes 2")
    lhs, rhs = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, lhs, "int8", "int16")
    if rhs.dtype != lhs.dtype or y.dtype != lhs.dtype:
        raise fail(
            graph,
            op,
            f"LHS {lhs.dtype.upper()}, RHS {rhs.dtype.upper()} and output {y.dtype.upper()} "
            "must have the same type (TFLite Micro runs no hybrid BATCH_MATMUL)",
        )
    s16 = lhs.dtype == "int16"
    lq, rq, yq = (require_quant(graph, op, t) for t in (lhs, rhs, y))
    if s16 and (lq.zp, rq.zp, yq.zp) != (0, 0, 0):
        raise fail(graph, op, f"int16 needs zero points 0 (TFLite requires it), got {lq.zp}, {rq.zp}, {yq.zp}")
    for what, t in (("LHS", lhs), ("RHS", rhs)):
        if not 2 <= len(t.shape) <= 5:
            raise fail(graph, op, f"{what} {t.describe()} has rank {len(t.shape)}; BATCH_MATMUL takes 2 to 5")
    adj_x, adj_y = bool(op.options.get("adj_x", False)), bool(op.options.get("adj_y", False))
    *lhs_batch, l0, l1 = (int(d) for d in lhs.shape)
    *rhs_batch, r0, r1 = (int(d) for d in rhs.shape)
    rows, depth = (l1, l0) if adj_x else (l0, l1)
    rhs_depth, cols = (r1, r0) if adj_y else (r0, r1)
    if depth != rhs_depth:
        raise fail(
            graph,
            op,
            f"LHS {list(lhs.shape)} (adj_x {int(adj_x)}) and RHS {list(rhs.shape)} (adj_y "
            f"{int(adj_y)}) have different inner dimensions {depth} and {rhs_depth}",
        )
    bc = broadcast_offsets(lhs_batch, rhs_batch, rows * depth, depth * cols)
    if bc is None:
        raise fail(graph, op, f"batch dimensions of {list(lhs.shape)} and {list(rhs.shape)} do not broadcast")
    out_batch, lhs_off, rhs_off = bc
    expected = out_batch + [rows, cols]
    if list(y.shape) != expected:
        raise fail(graph, op, f"output shape {list(y.shape)} is not {expected}")
    if min(rows, cols, depth) < 1 or y.size == 0:
        raise fail(graph, op, "has an empty operand")

    # GetQuantizedConvolutionMultipler(lhs, rhs, output) reads float32(s_lhs * s_rhs) /
    # double(s_out), and TFLite's reference computes that; the tflite_micro build behaves as if
    # the product were double (as for FULLY_CONNECTED, ops/fully_connected.py): where the two
    # give different multipliers, outputs differ by 1 (tests/lowering/test_ops_batch_matmul.py
    # test_multiplier_follows_tflite_micro). edgeconv follows TFLite Micro.
    real = float(lq.s) * float(rq.s) / float(yq.s)
    multiplier, shift = requantize_multiplier(graph, op, real, "output")
    act_min, act_max = qrange(y.dtype)

    const_rhs = rhs.data is not None
    elem = 2 if s16 else 1
    n_rhs = int(np.prod(rhs_batch)) if rhs_batch else 1
    params: dict = dict(
        batches=len(lhs_off),
        rows=rows,
        cols=cols,
        depth=depth,
        lhs_kmajor=int(adj_x),
        rhs_kmajor=int(not adj_y),
        lhs_offsets=CArray("int32_t", np.array(lhs_off, dtype=np.int32), "offsets", program_memory=True),
        rhs_offsets=CArray("int32_t", np.array(rhs_off, dtype=np.int32), "offsets", program_memory=True),
        lhs_zp=int(lq.zp),
        rhs_zp=int(rq.zp),
        output_zp=int(yq.zp),
        multiplier=multiplier,
        shift=shift,
        act_min=act_min,
        act_max=act_max,
        rhs_t=None,
        rhs_t16=None,
        rhs_corr=None,  # a constant RHS's (below)
    )
    if const_rhs:
        r = np.asarray(rhs.data).reshape(n_rhs, r0, r1).astype(np.int64)
        r_nk = r if adj_y else r.transpose(0, 2, 1)  # [matrix][N][K]
        # per column, the largest |R - zr| sum (int8) / |R| sum (int16): bounds the accumulator
        col_abs = np.abs(r_nk - int(rq.zp)).sum(axis=2)
        worst_col = int(col_abs.max())
    else:
        r_nk = None
        worst_col = depth * (qrange(rhs.dtype)[1] + 1 + abs(int(rq.zp)))
    if s16:
        worst = (1 << 15) * worst_col
        if worst >= S64_ACC_LIMIT:
            raise fail(
                graph,
                op,
                f"its int64 accumulator could reach {worst:,} (inner dimension {depth}): "
                "TFLite's 64-bit requantization assumes less than 2^47",
            )
        if shift > MAX_S64_SHIFT:
            raise fail(
                graph,
                op,
                f"its scales need a requantization left shift of {shift}; TFLite's 64-bit "
                f"requantization takes at most {MAX_S64_SHIFT}",
            )
    else:
        zl, zr = abs(int(lq.zp)), abs(int(rq.zp))
        # Every partial sum of the kernel's rearranged terms (ec_batch_matmul.c) is at most
        # K * (128 + |zl|) * (128 + |zr|); TFLite's own (L - zl) * (R - zr) sum lies within it.
        worst = depth * (128 + zl) * (128 + zr)
        if worst > INT32_MAX:
            raise fail(
                graph,
                op,
                f"its int32 accumulator could overflow: inner dimension {depth} with zero "
                f"points {lq.zp} and {rq.zp} can reach {worst:,} (more than 2^31 - 1)",
            )
        exact_worst = (128 + zl) * worst_col if const_rhs else worst
        check_requantize(graph, op, [exact_worst], [multiplier], [shift], int(yq.zp))

    scratch = 0
    if not s16 and not const_rhs:
        scratch += 4 * cols
    if adj_x:
        scratch += rows * depth * elem
    if not const_rhs and not adj_y:
        scratch += cols * depth * elem
    suffix = "s16" if s16 else "s8"
    inputs = [lhs.index]
    if const_rhs:
        suffix += "_c"
        if s16:
            params["rhs_t16"] = CArray("int16_t", r_nk.astype(np.int16), "weights", program_memory=True)
        else:
            zl, zr = int(lq.zp), int(rq.zp)
            params["rhs_t"] = CArray("int8_t", r_nk.astype(np.int8), "weights", program_memory=True)
            corr = depth * zl * zr - zl * r_nk.sum(axis=2)  # [matrix][N]
            params["rhs_corr"] = CArray("int32_t", corr.astype(np.int32), "bias", program_memory=True)
    else:
        inputs.append(rhs.index)
    return Kernel(
        func=f"ec_batch_matmul_{suffix}",
        unit="ec_batch_matmul",
        params_type="ec_batch_matmul_params_t",
        params=params,
        inputs=inputs,
        outputs=[y.index],
        # The kernel's signature always has a scratch pointer: at least one word.
        scratch_bytes=max(scratch, 4),
        macs=len(lhs_off) * rows * cols * depth,
        summary=f"{len(lhs_off)} x [{rows}x{depth}] @ [{depth}x{cols}]" + (" (constant RHS)" if const_rhs else ""),
    )
