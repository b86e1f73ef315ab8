"""TILE and BROADCAST_TO (int8, int16, int32), onto the strided copy (ops/copy.py).

Both repeat the input without arithmetic: output dimension d of TILE is walked as (multiple,
input size) with input strides (0, stride), BROADCAST_TO walks a broadcast dimension with
stride 0. TFLite Micro has BROADCAST_TO (up to 5 dimensions) but no TILE; TILE's oracle is
TFLite's reference kernel (see validation.py). Neither op requantizes.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, UnsupportedOpError
from edgeconv.lowering.ops.base import const_input, fail, lowering
from edgeconv.lowering.ops.copy import copy_suffix, row_strides, strided_copy

BROADCAST_TO_MAX_DIMS = 5  # TFLite Micro's and TFLite's BroadcastTo kMaxDims
DTYPES = ("int8", "int16", "int32")


# Like BROADCAST_TO below in its first lines (same dtype check), but it repeats by `multiples` rather than stretching to
# `shape`
@lowering("TILE")
def lower_tile(graph: Graph, op: Op):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    copy_suffix(graph, op, x, y, DTYPES)
    multiples = [int(v) for v in np.asarray(const_input(graph, op, 1, "multiples")).reshape(-1)]
    rank = len(x.shape)
    if len(multiples) != rank:
        raise fail(graph, op, f"multiples {multiples} do not have one value per input dimension ({rank})")
    if min(multiples, default=1) < 1:
        raise fail(graph, op, f"multiples {multiples} must be positive")
    expected = [int(d) * m for d, m in zip(x.shape, multiples)]
    if list(y.shape) != expected:
        raise fail(graph, op, f"output {list(y.shape)} is not input {list(x.shape)} tiled by {multiples} ({expected})")
    row = row_strides(x.shape)
    dims, strides = [], []
    for d, m, s in zip(x.shape, multiples, row):
        dims += [m, int(d)]
        strides += [0, s]
    return strided_copy(graph, op, x, y, dims, strides, 0, f"multiples {multiples}")


# Like TILE above in its first lines (same dtype check), but it stretches size-1 axes to `shape` rather than repeating
@lowering("BROADCAST_TO")
def lower_broadcast_to(graph: Graph, op: Op):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    copy_suffix(graph, op, x, y, DTYPES)
    shape = [int(v) for v in np.asarray(const_input(graph, op, 1, "shape")).reshape(-1)]
    rank = len(y.shape)
    if rank > BROADCAST_TO_MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: output rank {rank} exceeds {BROADCAST_TO_MAX_DIMS}")
    if shape != list(y.shape) or len(x.shape) > rank:
        raise fail(graph, op, f"output {list(y.shape)} does not match shape {shape} broadcast from {list(x.shape)}")
    lead = rank - len(x.shape)
    xs = [1] * lead + [int(d) for d in x.shape]
    if any(a != 1 and a != b for a, b in zip(xs, shape)):
        raise fail(graph, op, f"input {list(x.shape)} is not broadcastable to {shape}")
    row = row_strides(xs)
    strides = [0 if a == 1 else s for a, s in zip(xs, row)]
    return strided_copy(graph, op, x, y, shape, strides, 0, f"{list(x.shape)} -> {shape}")
