"""CONCATENATION and PACK (int8, int16, int32): a copy, as in TFLite Micro's concatenation.cc
and pack.cc.

TFLite Micro's Prepare (like TFLite's) rejects an int8 concatenation unless every input has
exactly the output's scale and zero point, an int16 one unless every zero point is 0, more than
10 inputs, and any fused activation: the kernel never requantizes or clamps. PACK (a
concatenation along a new axis) is checked by TFLite's Prepare: every input of the output's
shape without the axis, scale and zero point equal to the output's, `values_count` inputs.
Models that break these rules are refused here too, with the reason, rather than given
semantics no reference implements.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import (
    ACTIVATIONS,
    DTYPE_SUFFIX,
    CArray,
    Kernel,
    fail,
    lowering,
    require_dtype,
    require_quant,
)

MAX_INPUTS = 10  # TFLite Micro's kMaxInputNum
DTYPES = ("int8", "int16", "int32")


def _check_quant(graph: Graph, op: Op, x: Tensor, y: Tensor, what: str) -> None:
    """TFLite Micro's int8 rule (exact scale and zero point) and int16 rule (zero points 0)."""
    if y.dtype == "int32":
        return
    yq = require_quant(graph, op, y)
    xq = require_quant(graph, op, x)
    if y.dtype == "int16" and op.opcode == "CONCATENATION":
        if xq.zp != 0 or yq.zp != 0:
            raise UnsupportedOpError(
                f"{op.describe(graph)}: int16 {what} needs zero points 0 (TFLite Micro); "
                f"input {x.describe()} has {xq.zp}, the output {yq.zp}"
            )
        return  # TFLite Micro copies int16 values whatever the scales
    if (float(xq.s), xq.zp) != (float(yq.s), yq.zp):
        raise UnsupportedOpError(
            f"{op.describe(graph)}: input {x.describe()} has scale {xq.s!r} and zero point {xq.zp}, the output "
            f"{yq.s!r} and {yq.zp}; TFLite requires {what} inputs to match the output exactly (it never requantizes)"
        )


def _inputs(graph: Graph, op: Op) -> tuple[list[Tensor], Tensor]:
    if not op.inputs or min(op.inputs) < 0 or len(op.outputs) != 1:
        raise fail(graph, op, f"expects at least 1 input and 1 output, has {len(op.inputs)} and {len(op.outputs)}")
    xs = [graph.tensors[i] for i in op.inputs]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, y, *DTYPES)
    for x in xs:
        require_dtype(graph, op, x, y.dtype)
    return xs, y


def _kernel(xs: list[Tensor], y: Tensor, outer: int, copy_sizes: list[int], summary: str) -> Kernel:
    suffix = DTYPE_SUFFIX[y.dtype]
    # ec_concatenation_params_t's fields; like slice.py's SPLIT (its mirror image), but kept apart: each C params struct
    # has its own fields, which this dict must match one for one
    return Kernel(
        func=f"ec_concatenation_{suffix}",
        unit="ec_concatenation",
        params_type="ec_concatenation_params_t",
        params=dict(
            num_inputs=len(xs),
            outer=outer,
            copy_sizes=CArray("int32_t", np.array(copy_sizes, dtype=np.int32), "copy_sizes", program_memory=True),
        ),
        inputs=[x.index for x in xs],
        outputs=[y.index],
        inputs_as_array=True,
        summary=summary,
    )


@lowering("CONCATENATION")
def lower_concatenation(graph: Graph, op: Op) -> Kernel:
    xs, y = _inputs(graph, op)
    act = int(op.options.get("fused_activation_function", 0))
    if act != 0:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: fused activation {ACTIVATIONS.get(act, act)} on CONCATENATION is rejected by "
            "TFLite Micro and TFLite; only NONE is supported"
        )
    if len(xs) > MAX_INPUTS:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: {len(xs)} inputs; TFLite Micro's CONCATENATION takes at most {MAX_INPUTS}"
        )
    rank = len(y.shape)
    axis = _output_axis(graph, op, rank, "rank")
    for x in xs:
        _check_quant(graph, op, x, y, "concatenation")
        if len(x.shape) != rank or any(x.shape[j] != y.shape[j] for j in range(rank) if j != axis):
            raise fail(
                graph,
                op,
                f"input {x.describe()} of shape {list(x.shape)} does not fit output {list(y.shape)} along axis {axis}",
            )
    if sum(x.shape[axis] for x in xs) != y.shape[axis]:
        raise fail(
            graph, op, f"inputs' axis-{axis} sizes {[x.shape[axis] for x in xs]} do not add up to {y.shape[axis]}"
        )
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = int(np.prod(y.shape[axis + 1 :], dtype=np.int64))
    return _kernel(xs, y, outer, [int(x.shape[axis]) * inner for x in xs], f"{len(xs)} inputs, axis {axis}")


@lowering("PACK")
def lower_pack(graph: Graph, op: Op) -> Kernel:
    xs, y = _inputs(graph, op)
    count = int(op.options.get("values_count", 0))
    if count != len(xs):
        raise fail(graph, op, f"values_count {count} differs from its {len(xs)} inputs (TFLite requires them equal)")
    rank = len(y.shape)
    axis = _output_axis(graph, op, rank, "output rank")
    expected = list(y.shape[:axis]) + list(y.shape[axis + 1 :])
    if y.shape[axis] != len(xs):
        raise fail(graph, op, f"output {list(y.shape)} has {y.shape[axis]} along axis {axis}, not {len(xs)} inputs")
    for x in xs:
        _check_quant(graph, op, x, y, "PACK")
        if list(x.shape) != expected:
            raise fail(
                graph,
                op,
                f"input {x.describe()} of shape {list(x.shape)} is not the output {list(y.shape)} "
                f"without axis {axis} ({expected})",
            )
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = int(np.prod(y.shape[axis + 1 :], dtype=np.int64))
    return _kernel(xs, y, outer, [inner] * len(xs), f"{len(xs)} inputs, axis {axis}")


def _output_axis(graph: Graph, op: Op, rank: int, what: str) -> int:
    """CONCATENATION's and PACK's "axis" option, made non-negative and checked against the output's rank."""
    axis = int(op.options.get("axis", 0))
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise fail(graph, op, f"axis {op.options.get('axis', 0)} is out of range for {what} {rank}")
    return axis
