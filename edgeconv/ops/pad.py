"""PAD and PADV2 (int8, constant mode), up to 5 dimensions as in TFLite.

The pad value is the output zero point for PAD (real 0) and the constant operand for PADV2;
as in TFLite Micro's PadPrepare, PADV2's constant must share the output's scale and zero
point, and no requantization happens (bytes are copied whatever the tensors' parameters).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, UnsupportedOpError
from .base import int8_io, Kernel, const_input, fail, lowering, require_dtype

PAD_MAX_DIMS = 5  # TFLite's PadKernelMaxDimensionCount()


@lowering("PAD", "PADV2")
def lower_pad(graph: Graph, op: Op) -> Kernel:
    x, y, xq, yq = int8_io(graph, op)
    rank = len(x.shape)
    if rank > PAD_MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: input rank {rank} exceeds {PAD_MAX_DIMS}")
    if len(y.shape) != rank:
        raise fail(graph, op, f"output rank {len(y.shape)} differs from input rank {rank}")
    paddings = const_input(graph, op, 1, "paddings")
    if paddings.size != 2 * rank:
        raise fail(graph, op, f"paddings have {paddings.size} values; rank {rank} needs {2 * rank}")
    paddings = np.asarray(paddings, dtype=np.int64).reshape(rank, 2)
    if (paddings < 0).any():
        raise fail(graph, op, f"negative paddings {paddings.tolist()} are not supported")
    left = [int(v) for v in paddings[:, 0]]
    right = [int(v) for v in paddings[:, 1]]
    expected = [int(d) + l + r for d, l, r in zip(x.shape, left, right)]
    if list(y.shape) != expected:
        raise fail(graph, op, f"output {list(y.shape)} is not input {list(x.shape)} padded by "
                              f"{paddings.tolist()} ({expected})")

    if op.opcode == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        c = graph.tensors[op.inputs[2]]
        require_dtype(graph, op, c, "int8")
        value = const_input(graph, op, 2, "constant_values")
        if value.size != 1:
            raise fail(graph, op, f"constant_values has {value.size} elements; expected a scalar")
        cs, cz = (c.quant.s, c.quant.zp) if c.quant is not None else (0.0, 0)
        if cz != yq.zp or float(cs) != float(yq.s):
            raise fail(graph, op, f"constant_values quantization ({cs}, {cz}) differs from the output's "
                                  f"({yq.s}, {yq.zp}); TFLite requires them equal")
        pad_value = int(np.asarray(value).reshape(-1)[0])
    else:
        pad_value = yq.zp
    if not -128 <= pad_value <= 127:
        raise fail(graph, op, f"pad value {pad_value} is outside the int8 range")

    lead = PAD_MAX_DIMS - rank
    return Kernel(
        func="ec_pad_s8",
        unit="ec_pad",
        params_type="ec_pad_params_t",
        params=dict(
            in_dims=[1] * lead + [int(d) for d in x.shape],
            out_dims=[1] * lead + [int(d) for d in y.shape],
            left=[0] * lead + left,
            right=[0] * lead + right,
            pad_value=pad_value,
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"{paddings.tolist()} value {pad_value}",
    )
