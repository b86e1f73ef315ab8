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

A QUANTIZE of a float SELECT_V2 (or SELECT) is first moved onto the select's two operands
(`_quantize_before_select`): Keras' shrink activations with a dynamic batch convert to
DEQUANTIZE -> ZEROS_LIKE / identity -> SELECT_V2 -> QUANTIZE, and each operand's path then
fuses into a table (ZEROS_LIKE and ONES_LIKE are unary float functions too), leaving an int8
SELECT_V2.
"""

from __future__ import annotations

from dataclasses import replace

from edgeconv.frontend.ir import Graph, Op
from edgeconv.frontend.opchecks import check_op
from edgeconv.frontend.shapes import SHAPE_RULES
from edgeconv.lowering.ops.float_tables import FLOAT_FUNCTIONS, MAX_CHAIN, fused_opcode


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


def _int8_out(graph: Graph, q: Op) -> bool:
    dst = graph.tensors.get(q.outputs[0])
    return dst is not None and dst.dtype == "int8" and dst.quant is not None and not dst.quant.per_channel


def _quantize_before_select(graph: Graph) -> tuple[Graph, set[int]]:
    """QUANTIZE(SELECT_V2(c, a, b)) on float32 a and b becomes SELECT_V2(c, QUANTIZE(a),
    QUANTIZE(b)), each new QUANTIZE writing a new int8 tensor with the output's quantization
    (SELECT and QUANTIZE act element by element, so the values are the same). The converter
    writes the float form for Keras' shrink activations where the batch is dynamic (the
    `zeros_like` branch is not folded to a constant); the new QUANTIZEs then fuse into tables.
    Returns the graph and the new QUANTIZEs' indices (which may fuse with no float op between)."""
    producers, consumers = graph.producers(), graph.consumers()
    tensors = dict(graph.tensors)
    next_index = max((op.index for op in graph.ops), default=-1) + 1
    next_tensor = max(tensors, default=-1) + 1
    replaced: dict[int, list[Op]] = {}
    made: set[int] = set()
    for q in graph.ops:
        if q.opcode != "QUANTIZE" or not _single(q) or not _int8_out(graph, q):
            continue
        sel = producers.get(q.inputs[0])
        f = tensors.get(q.inputs[0])
        if (
            sel is None
            or sel.opcode not in ("SELECT", "SELECT_V2")
            or len(sel.inputs) != 3
            or len(sel.outputs) != 1
            or f is None
            or f.dtype != "float32"
            or len(consumers.get(f.index, [])) != 1
            or f.index in graph.outputs
            or any(i < 0 for i in sel.inputs)
            or any(tensors[i].dtype != "float32" for i in sel.inputs[1:])
        ):
            continue
        dst = tensors[q.outputs[0]]
        new_ops, operands = [], []
        for i in sel.inputs[1:]:
            src = tensors[i]
            tensors[next_tensor] = replace(
                dst, index=next_tensor, shape=src.shape, data=None, name=f"{dst.name}/quantized_operand_{len(operands)}"
            )
            new_ops.append(Op(next_index, "QUANTIZE", [i], [next_tensor], {}, q.options_type))
            made.add(next_index)
            operands.append(next_tensor)
            next_index += 1
            next_tensor += 1
        new_ops.append(
            Op(q.index, sel.opcode, [sel.inputs[0], *operands], [dst.index], dict(sel.options), sel.options_type)
        )
        replaced[q.index] = new_ops
    if not replaced:
        return graph, made
    ops = [new for op in graph.ops for new in replaced.get(op.index, [op])]
    return replace(graph, tensors=tensors, ops=ops), made


def fuse_float_islands(graph: Graph) -> Graph:
    graph, made = _quantize_before_select(graph)
    producers = graph.producers()
    fused: dict[int, Op] = {}
    for q in graph.ops:
        if q.opcode != "QUANTIZE" or not _single(q) or not _int8_out(graph, q):
            continue
        dst = graph.tensors[q.outputs[0]]
        found = _path_to_dequantize(graph, producers, q.inputs[0])
        if found is None or (not found[1] and q.index not in made):
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
