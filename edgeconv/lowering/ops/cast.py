"""CAST between integer types (int8, int16, int32; bool as input), as TFLite Micro's cast.cc:
a static_cast of each value, not a requantization (scales and zero points play no part).
Narrowing keeps the low bits (two's complement wrap-around); bool gives 0 or 1. Casts to or
from float are refused: no float in an integer kernel.
"""

from __future__ import annotations

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import DTYPE_SUFFIX, Kernel, fail, lowering, require_dtype


@lowering("CAST")
def lower_cast(graph: Graph, op: Op) -> Kernel:
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, "int8", "int16", "int32", "bool")
    require_dtype(graph, op, y, "int8", "int16", "int32")
    if list(x.shape) != list(y.shape):
        raise fail(graph, op, f"output shape {list(y.shape)} differs from input shape {list(x.shape)}")
    return Kernel(
        func=f"ec_cast_{DTYPE_SUFFIX[x.dtype]}_{DTYPE_SUFFIX[y.dtype]}",
        unit="ec_cast",
        params_type="ec_cast_params_t",
        params=dict(size=int(y.size)),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"{x.dtype} -> {y.dtype}",
    )
