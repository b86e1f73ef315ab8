"""PAD and PADV2 (constant mode; int8, int16, int32), up to 5 dimensions as in TFLite, and
MIRROR_PAD (REFLECT and SYMMETRIC; int8, and int16 as TFLite's reference).

The pad value is, as in TFLite Micro's pad.cc, the output zero point for an int8 PAD (real 0),
0 for an int16 or int32 PAD, and the constant operand for PADV2; PADV2's int8 constant must
share the output's scale and zero point (TFLite Micro's PadPrepare). No requantization
happens (values are copied whatever the tensors' parameters).

MIRROR_PAD reads, for each output index along each dimension, a reflected input index
(TFLite Micro's GetInputDimension, offset 1 for REFLECT, 0 for SYMMETRIC); the per-dimension
tables are computed here and the indexed copy (ops/copy.py) adds them up. Paddings larger
than the input allows (REFLECT: size - 1, SYMMETRIC: size) are refused: TFLite refuses them
and TFLite Micro reads outside its input.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, UnsupportedOpError
from edgeconv.lowering.ops.base import Kernel, const_input, fail, lowering, qrange, require_dtype, require_quant
from edgeconv.lowering.ops.copy import copy_suffix, indexed_copy, row_strides

PAD_MAX_DIMS = 5  # TFLite's PadKernelMaxDimensionCount()
MIRROR_PAD_MAX_DIMS = 8  # EC_COPY_MAX_DIMS


def _paddings(graph: Graph, op: Op, rank: int) -> np.ndarray:
    paddings = const_input(graph, op, 1, "paddings")
    if paddings.size != 2 * rank:
        raise fail(graph, op, f"paddings have {paddings.size} values; rank {rank} needs {2 * rank}")
    paddings = np.asarray(paddings, dtype=np.int64).reshape(rank, 2)
    if (paddings < 0).any():
        raise fail(graph, op, f"negative paddings {paddings.tolist()} are not supported")
    return paddings


def _check_shape(graph: Graph, op: Op, x, y, paddings: np.ndarray) -> None:
    expected = [int(d) + int(before) + int(after) for d, (before, after) in zip(x.shape, paddings)]
    if len(y.shape) != len(x.shape) or list(y.shape) != expected:
        raise fail(
            graph, op, f"output {list(y.shape)} is not input {list(x.shape)} padded by {paddings.tolist()} ({expected})"
        )


@lowering("PAD", "PADV2")
def lower_pad(graph: Graph, op: Op) -> Kernel:
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    suffix = copy_suffix(graph, op, x, y, ("int8", "int16", "int32"))
    rank = len(x.shape)
    if rank > PAD_MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: input rank {rank} exceeds {PAD_MAX_DIMS}")
    paddings = _paddings(graph, op, rank)
    _check_shape(graph, op, x, y, paddings)
    left = [int(v) for v in paddings[:, 0]]
    right = [int(v) for v in paddings[:, 1]]
    if y.dtype == "int8":
        yq = require_quant(graph, op, y)
    if op.opcode == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        c = graph.tensors[op.inputs[2]]
        require_dtype(graph, op, c, y.dtype)
        value = const_input(graph, op, 2, "constant_values")
        if value.size != 1:
            raise fail(graph, op, f"constant_values has {value.size} elements; expected a scalar")
        if y.dtype == "int8":
            cs, cz = (c.quant.s, c.quant.zp) if c.quant is not None else (0.0, 0)
            if cz != yq.zp or float(cs) != float(yq.s):
                raise fail(
                    graph,
                    op,
                    f"constant_values quantization ({cs}, {cz}) differs from the output's "
                    f"({yq.s}, {yq.zp}); TFLite requires them equal",
                )
        pad_value = int(np.asarray(value).reshape(-1)[0])
    else:
        pad_value = yq.zp if y.dtype == "int8" else 0
    lo, hi = qrange(y.dtype)
    if not lo <= pad_value <= hi:
        raise fail(graph, op, f"pad value {pad_value} is outside the {y.dtype} range")

    lead = PAD_MAX_DIMS - rank
    return Kernel(
        func=f"ec_pad_{suffix}",
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


def mirror_indices(size: int, left: int, right: int, offset: int) -> list[int]:
    """TFLite Micro's GetInputDimension for every output index of one dimension."""
    result = []
    for i in range(size + left + right):
        if i < left:
            original = left + offset - 1
            result.append(original - min(i, original - offset))
        elif i - left >= size:
            j = i - left - size
            original = size - (1 + offset)
            result.append(original - min(j, original))
        else:
            result.append(i - left)
    return result


@lowering("MIRROR_PAD")
def lower_mirror_pad(graph: Graph, op: Op) -> Kernel:
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    copy_suffix(graph, op, x, y, ("int8", "int16"))
    rank = len(x.shape)
    if rank > MIRROR_PAD_MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: input rank {rank} exceeds {MIRROR_PAD_MAX_DIMS}")
    paddings = _paddings(graph, op, rank)
    _check_shape(graph, op, x, y, paddings)
    mode = int(op.options.get("mode", 0))
    if mode not in (0, 1):
        raise fail(graph, op, f"mode {mode} is neither REFLECT (0) nor SYMMETRIC (1)")
    offset = 1 if mode == 0 else 0  # REFLECT leaves the edge out, SYMMETRIC repeats it
    tables = []
    for d, (before, after), s in zip(x.shape, paddings, row_strides(x.shape)):
        if max(before, after) > int(d) - offset:
            raise fail(
                graph,
                op,
                f"paddings {[int(before), int(after)]} exceed what {'REFLECT' if offset else 'SYMMETRIC'} "
                f"allows on a dimension of size {d} (at most {int(d) - offset})",
            )
        tables.append(np.array(mirror_indices(int(d), int(before), int(after), offset), dtype=np.int64) * s)
    return indexed_copy(graph, op, x, y, tables, f"{'REFLECT' if offset else 'SYMMETRIC'} {paddings.tolist()}")
