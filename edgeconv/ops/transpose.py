"""TRANSPOSE (int8), any permutation up to 6 dimensions.

A pure data movement (TFLite never requantizes here). The permutation is simplified at
compile time: size-1 axes are dropped and input axes that stay adjacent and in order in the
output are merged, so the C kernel walks as few, as long, runs as possible. A permutation
that simplifies to the identity moves no data and becomes an alias of the input buffer.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, UnsupportedOpError
from .base import Alias, Kernel, const_input, fail, lowering, require_dtype

MAX_DIMS = 6  # EC_MAX_DIMS in c_runtime/ec_common.h


def simplify_transpose(shape: list[int], perm: list[int]) -> tuple[list[int], list[int]]:
    """(output dims, input stride per output dim) of an equivalent, minimal transpose."""
    keep = [a for a in range(len(shape)) if shape[a] != 1]
    renum = {a: i for i, a in enumerate(keep)}
    shape = [shape[a] for a in keep]
    perm = [renum[a] for a in perm if a in renum]
    # Merge output axes i, i+1 that read input axes p, p+1: one axis of size shape[p]*shape[p+1].
    groups: list[list[int]] = []
    for a in perm:
        if groups and groups[-1][-1] + 1 == a:
            groups[-1].append(a)
        else:
            groups.append([a])
    # Each group is a contiguous block of input axes; order the blocks as in the input to get
    # the merged input shape, then read each block's stride from it.
    by_input = sorted(groups, key=lambda g: g[0])
    sizes = {g[0]: int(np.prod([shape[a] for a in g])) for g in groups}
    strides: dict[int, int] = {}
    step = 1
    for g in reversed(by_input):
        strides[g[0]] = step
        step *= sizes[g[0]]
    return [sizes[g[0]] for g in groups], [strides[g[0]] for g in groups]


@lowering("TRANSPOSE")
def lower_transpose(graph: Graph, op: Op):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, "int8")
    require_dtype(graph, op, y, "int8")
    rank = len(x.shape)
    if rank > MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: input rank {rank} exceeds {MAX_DIMS}")
    perm = [int(v) for v in np.asarray(const_input(graph, op, 1, "perm")).reshape(-1)]
    if sorted(perm) != list(range(rank)):
        raise fail(graph, op, f"perm {perm} is not a permutation of {rank} axes")
    expected = [int(x.shape[a]) for a in perm]
    if list(y.shape) != expected:
        raise fail(graph, op, f"output {list(y.shape)} is not input {list(x.shape)} permuted by {perm} ({expected})")
    dims, strides = simplify_transpose([int(d) for d in x.shape], perm)
    if len(dims) <= 1 and x.data is None:
        return Alias(source=x.index, target=y.index)
    lead = MAX_DIMS - len(dims)
    return Kernel(
        func="ec_transpose_s8",
        unit="ec_transpose",
        params_type="ec_transpose_params_t",
        params=dict(out_dims=[1] * lead + dims, in_strides=[0] * lead + strides),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"perm {perm}",
    )
