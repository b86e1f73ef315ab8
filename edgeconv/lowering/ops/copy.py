"""The strided and indexed copy kernels (c_runtime/ec_copy.h) that the data-movement ops
share: TRANSPOSE, STRIDED_SLICE, SLICE, TILE, BROADCAST_TO, DEPTH_TO_SPACE, SPACE_TO_DEPTH
(strided) and MIRROR_PAD (indexed).

A lowering describes its op as a walk over the output: for each output dimension (outermost
first) its size and the input stride it steps along (0 repeats, negative walks backwards),
plus the input element that output element 0 reads. `strided_copy` simplifies the walk
(size-1 dimensions dropped, neighbours that continue each other merged) and returns the
Kernel, or an Alias when the walk reads the whole input in order (nothing moves).
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import DTYPE_SUFFIX, Alias, CArray, Kernel, fail, require_dtype

MAX_DIMS = 8  # EC_COPY_MAX_DIMS in c_runtime/ec_copy.h
INT32_LIMIT = 1 << 31

# The types the copy kernels move (elements of 1, 2 or 4 bytes), by entry-point suffix.
COPY_DTYPES = ("int8", "int16", "int32")


def copy_suffix(graph: Graph, op: Op, x: Tensor, y: Tensor, dtypes: tuple[str, ...] = ("int8", "int16")) -> str:
    """The entry-point suffix for a copy from x to y: both of one supported type."""
    require_dtype(graph, op, x, *dtypes)
    require_dtype(graph, op, y, *dtypes)
    if x.dtype != y.dtype:
        raise fail(graph, op, f"input type {x.dtype.upper()} differs from output type {y.dtype.upper()}")
    return DTYPE_SUFFIX[x.dtype]


def simplify(dims: list[int], strides: list[int]) -> tuple[list[int], list[int]]:
    """The same walk with size-1 dimensions dropped and dimension i merged into i+1 where
    stride[i] == stride[i+1] * dims[i+1] (they walk one longer run)."""
    pairs = [(int(d), int(s)) for d, s in zip(dims, strides) if int(d) != 1]
    merged: list[list[int]] = []
    for d, s in pairs:
        if merged and merged[-1][1] == s * d:
            merged[-1] = [merged[-1][0] * d, s]
        else:
            merged.append([d, s])
    if not merged:
        merged = [[1, 1]]
    return [m[0] for m in merged], [m[1] for m in merged]


def strided_copy(
    graph: Graph,
    op: Op,
    x: Tensor,
    y: Tensor,
    dims: list[int],
    strides: list[int],
    offset: int,
    summary: str,
    alias_ok: bool = True,
) -> Kernel | Alias:
    """The Kernel (or Alias) copying x into y along the walk (dims, strides, offset)."""
    if int(np.prod(dims, dtype=np.int64)) != y.size:
        raise fail(graph, op, f"the copy walks {int(np.prod(dims, dtype=np.int64))} elements; the output has {y.size}")
    # Every index the walk reaches is inside the input (so no pointer leaves it), and every
    # value the C's running offset takes fits int32: a valid index plus at most one whole span
    # (stride * size) of one dimension, taken back as that index wraps.
    lo = hi = offset
    for d, s in zip(dims, strides):
        if x.size + abs(s) * d >= INT32_LIMIT:
            raise fail(graph, op, "the copy's strides exceed int32")
        lo, hi = lo + min(0, s * (d - 1)), hi + max(0, s * (d - 1))
    if lo < 0 or hi >= x.size:
        raise fail(graph, op, f"the copy reads input elements {lo}..{hi}, outside the input's {x.size}")
    dims, strides = simplify(dims, strides)
    suffix = copy_suffix(graph, op, x, y, COPY_DTYPES)
    if alias_ok and len(dims) == 1 and strides[0] == 1 and offset == 0 and x.data is None:
        return Alias(source=x.index, target=y.index)  # the whole input (or its prefix), in order
    if len(dims) > MAX_DIMS:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: the copy needs {len(dims)} loops after merging; the kernel has {MAX_DIMS}"
        )
    lead = MAX_DIMS - len(dims)
    return Kernel(
        func=f"ec_copy_{suffix}",
        unit="ec_copy",
        params_type="ec_copy_params_t",
        params=dict(rank=len(dims), out_dims=dims + [1] * lead, in_strides=strides + [0] * lead, in_offset=int(offset)),
        inputs=[x.index],
        outputs=[y.index],
        summary=summary,
    )


def indexed_copy(graph: Graph, op: Op, x: Tensor, y: Tensor, tables: list[np.ndarray], summary: str) -> Kernel:
    """The Kernel copying x into y where output index i along dimension d reads input offset
    tables[d][i] (already multiplied by the input stride); the offsets of an element add."""
    suffix = copy_suffix(graph, op, x, y, COPY_DTYPES)
    keep = [t for t in tables if len(t) != 1 or t[0] != 0] or [np.zeros(1, dtype=np.int64)]
    if len(keep) > MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: rank {len(keep)} exceeds {MAX_DIMS}")
    hi = sum(int(np.max(t)) for t in keep)
    if min(int(np.min(t)) for t in keep) < 0 or hi >= x.size:
        raise fail(graph, op, "the copy's index tables leave the input")
    dims = [len(t) for t in keep]
    lead = MAX_DIMS - len(dims)
    # ec_copy_indexed_params_t's fields; like concatenation.py's and slice.py's, but kept apart: each C params struct
    # has its own fields, which this dict must match one for one
    return Kernel(
        func=f"ec_copy_indexed_{suffix}",
        unit="ec_copy",
        params_type="ec_copy_indexed_params_t",
        params=dict(
            rank=len(dims),
            out_dims=dims + [1] * lead,
            offsets=CArray("int32_t", np.concatenate(keep).astype(np.int32), "table", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=summary,
    )


def row_strides(shape) -> list[int]:
    """Elements per step along each dimension of a C-ordered tensor."""
    strides, step = [], 1
    for d in reversed([int(v) for v in shape]):
        strides.append(step)
        step *= d
    return strides[::-1]
