"""DEPTH_TO_SPACE and SPACE_TO_DEPTH (int8; int32 as TFLite's reference), NHWC, onto the
strided copy (ops/copy.py).

DEPTH_TO_SPACE: output[b, h*bs + i, w*bs + j, c] = input[b, h, w, (i*bs + j)*C_out + c], walked
as (b, h, i, w, j, c); SPACE_TO_DEPTH is its inverse, walked as (b, h, w, i, j, c). The order
is TFLite's reference DepthToSpace/SpaceToDepth. Neither TFLite Micro nor TFLite's kernels
take int16, so 16x8 models with these ops are refused.
"""

from __future__ import annotations

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import fail, lowering
from edgeconv.lowering.ops.copy import copy_suffix, strided_copy


def _io(graph: Graph, op: Op):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    copy_suffix(graph, op, x, y, ("int8", "int32"))
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise fail(graph, op, f"expects 4-D input and output, got {list(x.shape)} -> {list(y.shape)}")
    bs = int(op.options.get("block_size", 0))
    if bs < 1:
        raise fail(graph, op, f"block_size {bs} must be at least 1")
    return x, y, bs, [int(d) for d in x.shape]


@lowering("DEPTH_TO_SPACE")
def lower_depth_to_space(graph: Graph, op: Op):
    x, y, bs, (b, h, w, c) = _io(graph, op)
    if c % (bs * bs) or list(y.shape) != [b, h * bs, w * bs, c // (bs * bs)]:
        raise fail(graph, op, f"output {list(y.shape)} is not input {list(x.shape)} with block {bs} moved to space")
    oc = c // (bs * bs)
    dims = [b, h, bs, w, bs, oc]
    strides = [h * w * c, w * c, bs * oc, c, oc, 1]
    return strided_copy(graph, op, x, y, dims, strides, 0, f"block {bs}")


@lowering("SPACE_TO_DEPTH")
def lower_space_to_depth(graph: Graph, op: Op):
    x, y, bs, (b, h, w, c) = _io(graph, op)
    if h % bs or w % bs or list(y.shape) != [b, h // bs, w // bs, c * bs * bs]:
        raise fail(graph, op, f"output {list(y.shape)} is not input {list(x.shape)} with block {bs} moved to depth")
    dims = [b, h // bs, w // bs, bs, bs, c]
    strides = [h * w * c, bs * w * c, bs * c, w * c, c, 1]
    return strided_copy(graph, op, x, y, dims, strides, 0, f"block {bs}")
