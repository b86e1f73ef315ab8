"""fuse_float_islands: DEQUANTIZE (int8 -> float32) -> one unary float op -> QUANTIZE
(float32 -> int8) becomes one int8 op, "DEQUANTIZE+<OP>+QUANTIZE", lowered to a table of
TFLite Micro's float arithmetic (ops/float_tables.py). The converter writes this form around
ops it does not quantize (Keras ELU; UnitNormalization's SQUARE; NEG, FLOOR, CEIL, ROUND, SIN,
COS). The three ops are checked
(opchecks) before they are fused; the float tensors between them must have no other reader
and must not be model outputs. Runs first, so that the fused op is what later passes see
(its output shape is its input's, registered below).
"""

from __future__ import annotations

from .ir import Graph, Op
from .opchecks import check_op
from .ops.float_tables import FLOAT_FUNCTIONS, fused_opcode
from .shapes import shape_rule


@shape_rule(*(fused_opcode(name) for name in FLOAT_FUNCTIONS))
def _fused_shape(graph: Graph, op: Op) -> list[tuple[int, ...]]:
    return [tuple(graph.tensors[op.inputs[0]].shape)]


def _single(op: Op) -> bool:
    return len(op.inputs) == 1 and len(op.outputs) == 1 and op.inputs[0] >= 0


def fuse_float_islands(graph: Graph) -> Graph:
    producers = graph.producers()
    consumers = graph.consumers()
    outputs = set(graph.outputs)
    replaced: dict[int, Op] = {}  # op index -> the fused op (at the DEQUANTIZE's place)
    dropped: set[int] = set()
    for mid in graph.ops:
        if mid.opcode not in FLOAT_FUNCTIONS or not _single(mid):
            continue
        deq = producers.get(mid.inputs[0])
        after = consumers.get(mid.outputs[0], [])
        if deq is None or deq.opcode != "DEQUANTIZE" or not _single(deq) or len(after) != 1:
            continue
        quant = after[0]
        if quant.opcode != "QUANTIZE" or not _single(quant):
            continue
        src, f_in, f_out, dst = (graph.tensors.get(t) for t in (deq.inputs[0], mid.inputs[0], mid.outputs[0],
                                                                quant.outputs[0]))
        if None in (src, f_in, f_out, dst) or src.data is not None:
            continue
        if (src.dtype, f_in.dtype, f_out.dtype, dst.dtype) != ("int8", "float32", "float32", "int8"):
            continue
        if len(consumers.get(f_in.index, [])) != 1 or {f_in.index, f_out.index} & outputs:
            continue
        if src.quant is None or dst.quant is None or src.quant.per_channel or dst.quant.per_channel:
            continue
        for op in (deq, mid, quant):
            check_op(graph, op)
        replaced[deq.index] = Op(deq.index, fused_opcode(mid.opcode), [src.index], [dst.index])
        dropped.update((mid.index, quant.index))
    if not replaced:
        return graph
    ops = [replaced.get(op.index, op) for op in graph.ops if op.index not in dropped]
    return graph.with_ops(ops)
