"""Graph passes. Each is a function Graph -> Graph; `run_passes` applies them in the order
listed here (PASSES; tests/lowering/test_passes.py holds this list to it).

- fuse_float_islands (lowering/float_islands.py): DEQUANTIZE -> unary float ops (ELU, SQUARE,
  NEG, FLOOR, CEIL, ROUND, SIN, COS, ZEROS_LIKE, ONES_LIKE) -> QUANTIZE on int8 tensors, as the
  converter leaves ops it does not quantize, becomes one int8 table op per QUANTIZE.
- check_supported: an op edgeconv has no lowering for, and that does not fold into a constant,
  is refused as unsupported before anything its semantics would explain (a variable tensor
  no op writes, a shape rule it breaks).
- check_topological: every op reads only constants, graph inputs or tensors written before it.
- infer_shapes (frontend/shapes.py): every op's output shapes as TFLite's Prepare computes
  them, the op's structural checks (frontend/opchecks.py) on those shapes, and constant folding: SHAPE of a tensor
  is its inferred shape, and ops on constants (the Keras converter's SHAPE -> STRIDED_SLICE ->
  PACK -> RESHAPE chains) become constant tensors.
- remove_dead_ops: ops whose outputs nobody reads are dropped.
- fuse_activations: a standalone RELU/RELU6 whose input and output share quantization and
  that follows an op with a fused-activation slot becomes that op's fused activation.

Input zero-point folding and per-channel multipliers are computed when each op is lowered
(edgeconv/lowering/ops), where the kernel parameters are formed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from edgeconv.frontend.folding import FOLDABLE
from edgeconv.frontend.ir import Graph, ModelError, Op, UnsupportedOpError
from edgeconv.frontend.shapes import infer_shapes
from edgeconv.lowering.float_islands import fuse_float_islands
from edgeconv.lowering.ops.base import LOWERINGS

# ---------------------------------------------------------------------------------------------
# fuse_activations

_FUSABLE_PRODUCERS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D"}
_ACTIVATION_CODES = {"RELU": 1, "RELU6": 3}


def fuse_activations(graph: Graph) -> Graph:
    producers = graph.producers()
    consumers = graph.consumers()
    ops = list(graph.ops)
    removed: set[int] = set()
    for op in ops:
        code = _ACTIVATION_CODES.get(op.opcode)
        if code is None or len(op.inputs) != 1:
            continue
        src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        prod = producers.get(src.index)
        if (
            prod is None
            or prod.opcode not in _FUSABLE_PRODUCERS
            or len(consumers.get(src.index, [])) != 1
            or src.index in graph.outputs
            or src.quant is None
            or dst.quant is None
            or (src.quant.scale, src.quant.zero_point) != (dst.quant.scale, dst.quant.zero_point)
            or src.dtype != dst.dtype
        ):
            continue
        current = int(prod.options.get("fused_activation_function", 0))
        if current not in (0, 1, 3):
            continue
        merged = 3 if 3 in (current, code) else 1
        j = ops.index(prod)
        ops[j] = replace(prod, outputs=[dst.index], options={**prod.options, "fused_activation_function": merged})
        producers[dst.index] = ops[j]
        removed.add(op.index)
    return graph.with_ops([op for op in ops if op.index not in removed])


# ---------------------------------------------------------------------------------------------
# remove_dead_ops


def remove_dead_ops(graph: Graph) -> Graph:
    needed = set(graph.outputs)
    kept: list[Op] = []
    for op in reversed(graph.ops):
        if any(t in needed for t in op.outputs):
            kept.append(op)
            needed.update(t for t in op.inputs if t >= 0)
    return graph.with_ops(list(reversed(kept)))


# ---------------------------------------------------------------------------------------------


def check_topological(graph: Graph) -> Graph:
    """Every op reads only tensors that are constant, graph inputs or written before it."""
    written = set(graph.inputs) | {i for i, t in graph.tensors.items() if t.data is not None}
    for op in graph.ops:
        for t in op.inputs:
            if t >= 0 and t not in written:
                raise ModelError(
                    f"{op.describe(graph)} reads {graph.tensors[t].describe()}, which no earlier op writes "
                    "(a cycle, or a tensor never computed)"
                )
        for t in op.outputs:
            if t in written and graph.tensors[t].data is None and t not in graph.inputs:
                raise ModelError(
                    f"{op.describe(graph)} writes {graph.tensors[t].describe()}, which an earlier op already wrote"
                )
            if graph.tensors[t].data is not None:
                raise ModelError(f"{op.describe(graph)} writes constant {graph.tensors[t].describe()}")
            written.add(t)
    for t in graph.outputs:
        if t not in written:
            raise ModelError(f"model output {graph.tensors[t].describe()} is never computed")
    return graph


def check_supported(graph: Graph) -> Graph:
    """Refuse the first op (in model order) that edgeconv can neither lower nor fold into a
    constant, among the ops the outputs depend on. An op folds when it is one folding.py
    evaluates, its outputs are not quantized and each of its inputs is an unquantized constant
    or the output of an op that folds (SHAPE folds whatever its input: shapes are static once
    inferred)."""
    constant = {i for i, t in graph.tensors.items() if t.data is not None and t.quant is None}
    folds: set[int] = set()
    for op in graph.ops:
        unquantized = all(t in graph.tensors and graph.tensors[t].quant is None for t in op.outputs)
        if (
            op.opcode in FOLDABLE
            and unquantized
            and (
                op.opcode == "SHAPE"
                or (any(i >= 0 for i in op.inputs) and all(i < 0 or i in constant for i in op.inputs))
            )
        ):
            folds.add(op.index)
            constant.update(op.outputs)
    needed = set(graph.outputs)
    live: set[int] = set()
    for op in reversed(graph.ops):
        if any(t in needed for t in op.outputs):
            live.add(op.index)
            needed.update(t for t in op.inputs if t >= 0)
    for op in graph.ops:
        if op.index in live and op.opcode not in LOWERINGS and op.index not in folds:
            out = graph.tensors.get(op.outputs[0]) if op.outputs else None
            where = f", output {out.describe()}" if out is not None else ""
            raise UnsupportedOpError(f"unsupported op {op.opcode} (op {op.index}{where})")
    return graph


PASSES: list[Callable[[Graph], Graph]] = [
    fuse_float_islands,
    check_supported,
    check_topological,
    infer_shapes,
    remove_dead_ops,
    fuse_activations,
]


def run_passes(graph: Graph) -> Graph:
    for p in PASSES:
        graph = p(graph)
    return graph
