"""TRANSPOSE (int8, int16; int32 index-like tensors too), any permutation up to 6 dimensions.

A pure data movement (TFLite never requantizes here), lowered onto the strided copy
(ops/copy.py): output dimension i walks input dimension perm[i] with that dimension's stride.
The walk is simplified at compile time (size-1 axes dropped, input axes that stay adjacent and
in order merged), so the kernel walks as few, as long, runs as possible; a permutation that
simplifies to the identity moves no data and becomes an alias of the input buffer.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, UnsupportedOpError
from edgeconv.lowering.ops.base import const_input, fail, lowering
from edgeconv.lowering.ops.copy import copy_suffix, row_strides, strided_copy

MAX_DIMS = 6  # TFLite's reference transpose handles up to 6 dimensions


@lowering("TRANSPOSE")
def lower_transpose(graph: Graph, op: Op):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    copy_suffix(graph, op, x, y, ("int8", "int16", "int32"))
    rank = len(x.shape)
    if rank > MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: input rank {rank} exceeds {MAX_DIMS}")
    perm = [int(v) for v in np.asarray(const_input(graph, op, 1, "perm")).reshape(-1)]
    if sorted(perm) != list(range(rank)):
        raise fail(graph, op, f"perm {perm} is not a permutation of {rank} axes")
    expected = [int(x.shape[a]) for a in perm]
    if list(y.shape) != expected:
        raise fail(graph, op, f"output {list(y.shape)} is not input {list(x.shape)} permuted by {perm} ({expected})")
    strides = row_strides(x.shape)
    return strided_copy(graph, op, x, y, expected, [strides[a] for a in perm], 0, f"perm {perm}")
