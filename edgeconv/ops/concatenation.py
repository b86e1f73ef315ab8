"""CONCATENATION (int8): a copy, as in TFLite Micro's concatenation.cc.

TFLite Micro's Prepare (like TFLite's) rejects an int8 concatenation unless every input has
exactly the output's scale and zero point, and rejects any fused activation: the kernel never
requantizes or clamps. Models that break either rule are refused here too, with the reason,
rather than given semantics no reference implements.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, UnsupportedOpError
from .base import ACTIVATIONS, CArray, Kernel, fail, lowering, require_dtype, require_quant


@lowering("CONCATENATION")
def lower_concatenation(graph: Graph, op: Op) -> Kernel:
    if not op.inputs or min(op.inputs) < 0 or len(op.outputs) != 1:
        raise fail(graph, op, f"expects at least 1 input and 1 output, has {len(op.inputs)} and {len(op.outputs)}")
    xs = [graph.tensors[i] for i in op.inputs]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, y, "int8")
    yq = require_quant(graph, op, y)
    act = int(op.options.get("fused_activation_function", 0))
    if act != 0:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: fused activation {ACTIVATIONS.get(act, act)} on CONCATENATION is rejected by "
            "TFLite Micro and TFLite; only NONE is supported"
        )
    rank = len(y.shape)
    axis = int(op.options.get("axis", 0))
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise fail(graph, op, f"axis {op.options.get('axis', 0)} is out of range for rank {rank}")
    for x in xs:
        require_dtype(graph, op, x, "int8")
        xq = require_quant(graph, op, x)
        if (float(xq.s), xq.zp) != (float(yq.s), yq.zp):
            raise UnsupportedOpError(
                f"{op.describe(graph)}: input {x.describe()} has scale {xq.s!r} and zero point {xq.zp}, the output "
                f"{yq.s!r} and {yq.zp}; TFLite Micro requires int8 concatenation inputs to match the output exactly "
                "(it never requantizes)"
            )
        if len(x.shape) != rank or any(x.shape[j] != y.shape[j] for j in range(rank) if j != axis):
            raise fail(graph, op, f"input {x.describe()} of shape {list(x.shape)} does not fit output {list(y.shape)} "
                       f"along axis {axis}")
    if sum(x.shape[axis] for x in xs) != y.shape[axis]:
        raise fail(graph, op, f"inputs' axis-{axis} sizes {[x.shape[axis] for x in xs]} do not add up to "
                   f"{y.shape[axis]}")
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64))
    copy_sizes = np.array([x.shape[axis] * inner for x in xs], dtype=np.int32)
    return Kernel(
        func="ec_concatenation_s8",
        unit="ec_concatenation",
        params_type="ec_concatenation_params_t",
        params=dict(num_inputs=len(xs), outer=outer, copy_sizes=CArray("int32_t", copy_sizes, "copy_sizes")),
        inputs=[x.index for x in xs],
        outputs=[y.index],
        inputs_as_array=True,
        summary=f"{len(xs)} inputs, axis {axis}",
    )
