"""fuse_float_islands: every QUANTIZE (float32 -> int8) whose float input is computed from one
int8 tensor by a DEQUANTIZE and a path of unary float ops (ELU, SQUARE, NEG, FLOOR, CEIL, ROUND,
SIN, COS; at most four) becomes one int8 op, "DEQUANTIZE+<OPS>+QUANTIZE", lowered to a table of
TFLite Micro's float arithmetic (ops/float_tables.py). The converter writes this form around
ops it does not quantize (Keras ELU; UnitNormalization's SQUARE, which may read the float ELU
output another QUANTIZE also reads). The ops on the path are checked (opchecks) first. The
float ops are left in the graph: once nothing reads them they are dead (check_supported
ignores them, remove_dead_ops drops them); a float result that something else still reads
(a model output, a float op without a table) keeps them, and that op is refused as before.
Runs first, so that later passes see the fused ops (their output shape is their input's,
registered below).
"""

from __future__ import annotations

from .ir import Graph, Op
from .opchecks import check_op
from .ops.float_tables import FLOAT_FUNCTIONS, MAX_CHAIN, fused_opcode
from .shapes import SHAPE_RULES


def _fused_shape(graph: Graph, op: Op) -> list[tuple[int, ...]]:
    return [tuple(graph.tensors[op.inputs[0]].shape)]


def _single(op: Op) -> bool:
    return len(op.inputs) == 1 and len(op.outputs) == 1 and op.inputs[0] >= 0


def _path_to_dequantize(graph: Graph, producers: dict[int, Op], t: int) -> tuple[Op, list[Op]] | None:
    """The DEQUANTIZE (int8 -> float32, per tensor, not constant) and the unary float ops (in
    order) that compute float tensor t, or None."""
    path: list[Op] = []
    while True:
        tensor = graph.tensors.get(t)
        op = producers.get(t)
        if tensor is None or tensor.dtype != "float32" or op is None or not _single(op):
            return None
        if op.opcode == "DEQUANTIZE":
            src = graph.tensors.get(op.inputs[0])
            if src is None or src.dtype != "int8" or src.data is not None or src.quant is None or src.quant.per_channel:
                return None
            return op, list(reversed(path))
        if op.opcode not in FLOAT_FUNCTIONS or len(path) == MAX_CHAIN:
            return None
        path.append(op)
        t = op.inputs[0]


def fuse_float_islands(graph: Graph) -> Graph:
    producers = graph.producers()
    fused: dict[int, Op] = {}
    for q in graph.ops:
        if q.opcode != "QUANTIZE" or not _single(q):
            continue
        dst = graph.tensors.get(q.outputs[0])
        if dst is None or dst.dtype != "int8" or dst.quant is None or dst.quant.per_channel:
            continue
        found = _path_to_dequantize(graph, producers, q.inputs[0])
        if found is None or not found[1]:
            continue  # a plain DEQUANTIZE -> QUANTIZE is the QUANTIZE lowering's business
        deq, path = found
        for op in (deq, *path, q):
            check_op(graph, op)
        name = fused_opcode(tuple(op.opcode for op in path))
        SHAPE_RULES.setdefault(name, _fused_shape)
        fused[q.index] = Op(q.index, name, [deq.inputs[0]], [dst.index])
    if not fused:
        return graph
    return graph.with_ops([fused.get(op.index, op) for op in graph.ops])
