"""RESHAPE, SQUEEZE and EXPAND_DIMS: no data moves; the output aliases the input's buffer."""

from __future__ import annotations

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import Alias, fail, lowering


@lowering("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def lower_reshape(graph: Graph, op: Op) -> Alias:
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    if x.size != y.size:
        raise fail(graph, op, f"reshapes {list(x.shape)} ({x.size} elements) to {list(y.shape)} ({y.size})")
    if x.dtype != y.dtype:
        raise fail(graph, op, f"changes type {x.dtype.upper()} to {y.dtype.upper()}")
    # TFLite copies bytes and never requantizes here, whatever the two tensors' parameters say.
    return Alias(source=x.index, target=y.index)
