"""Graph passes. Each is a function Graph -> Graph; `run_passes` applies them in order.

- fold_shape_ops: SHAPE of a static tensor is a constant; then every op whose inputs are all
  constant and that numpy can evaluate exactly (the Keras 3 converter's
  SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE chains) becomes a constant tensor.
- fuse_activations: a standalone RELU/RELU6 whose input and output share quantization and
  that follows an op with a fused-activation slot becomes that op's fused activation.
- remove_dead_ops: ops whose outputs nobody reads are dropped.

Input zero-point folding and per-channel multipliers are computed when each op is lowered
(edgeconv/ops), where the kernel parameters are formed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from .ir import Graph, ModelError, Op, Tensor

# ---------------------------------------------------------------------------------------------
# fold_shape_ops


def _strided_slice(op: Op, x: np.ndarray, begin, end, strides) -> np.ndarray:
    o = op.options
    if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0):
        raise NotImplementedError
    if o.get("offset", False):
        end = [b + e for b, e in zip(begin, end)]
    slices = []
    for d in range(x.ndim):
        if d >= len(begin):
            slices.append(slice(None))
            continue
        b, e, s = int(begin[d]), int(end[d]), int(strides[d])
        if o.get("begin_mask", 0) >> d & 1:
            b = None
        if o.get("end_mask", 0) >> d & 1:
            e = None
        if o.get("shrink_axis_mask", 0) >> d & 1:
            b = b if b is not None else 0
            e = b + 1 if b != -1 else None
            s = 1
        slices.append(slice(b, e, s))
    out = x[tuple(slices)]
    shrink = [d for d in range(len(begin)) if o.get("shrink_axis_mask", 0) >> d & 1]
    return np.squeeze(out, axis=tuple(shrink)) if shrink else out


def _eval_const(op: Op, args: list[np.ndarray | None], out: Tensor) -> np.ndarray:
    code = op.opcode
    if code == "STRIDED_SLICE":
        return _strided_slice(op, args[0], args[1], args[2], args[3])
    if code == "PACK":
        return np.stack(args, axis=int(op.options.get("axis", 0)))
    if code == "CONCATENATION":
        return np.concatenate(args, axis=int(op.options.get("axis", 0)))
    if code in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
        return args[0].reshape(out.shape)
    if code == "CAST":
        return args[0]
    if code == "GATHER":
        return np.take(args[0], args[1].astype(np.int64), axis=int(op.options.get("axis", 0)))
    if code == "SLICE":
        begin, size = args[1], args[2]
        return args[0][tuple(slice(int(b), None if s == -1 else int(b) + int(s)) for b, s in zip(begin, size))]
    if code in ("ADD", "SUB", "MUL") and args[0].dtype.kind == "i" and out.quant is None:
        fn = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}[code]
        return fn(args[0], args[1])
    raise NotImplementedError


_FOLDABLE = {"STRIDED_SLICE", "PACK", "CONCATENATION", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CAST",
             "GATHER", "SLICE", "ADD", "SUB", "MUL"}


def fold_shape_ops(graph: Graph) -> Graph:
    tensors = dict(graph.tensors)
    kept: list[Op] = []
    for op in graph.ops:
        out = tensors[op.outputs[0]] if op.outputs else None
        if op.opcode == "SHAPE" and len(op.inputs) == 1 and op.inputs[0] >= 0 and out is not None:
            src = tensors[op.inputs[0]]
            value = np.array(src.shape, dtype=np.int64 if out.dtype == "int64" else np.int32)
            tensors[out.index] = replace(out, data=value.reshape(out.shape) if out.shape else value)
            continue
        ins = [tensors[i] if i >= 0 else None for i in op.inputs]
        if (
            op.opcode in _FOLDABLE
            and len(op.outputs) == 1
            and all(t is None or t.data is not None for t in ins)
            and any(t is not None for t in ins)
            and out is not None
            and out.quant is None  # quantized arithmetic is left to the kernels
            and all(t is None or t.quant is None for t in ins)
        ):
            try:
                value = _eval_const(op, [t.data if t is not None else None for t in ins], out)
                from .ir import DTYPES

                value = np.asarray(value).astype(DTYPES[out.dtype][0])
                if int(np.prod(out.shape, dtype=np.int64)) == value.size:
                    tensors[out.index] = replace(out, data=value.reshape(out.shape))
                    continue
            except (NotImplementedError, ValueError, IndexError, KeyError, TypeError):
                pass
        kept.append(op)
    return replace(graph, tensors=tensors).with_ops(kept)


# ---------------------------------------------------------------------------------------------
# fuse_activations

_FUSABLE_PRODUCERS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D"}
_ACTIVATION_CODES = {"RELU": 1, "RELU6": 3}


def fuse_activations(graph: Graph) -> Graph:
    producers = graph.producers()
    consumers = graph.consumers()
    ops = list(graph.ops)
    removed: set[int] = set()
    for i, op in enumerate(ops):
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
                raise ModelError(f"{op.describe(graph)} writes {graph.tensors[t].describe()}, which an earlier op already wrote")
            if graph.tensors[t].data is not None:
                raise ModelError(f"{op.describe(graph)} writes constant {graph.tensors[t].describe()}")
            written.add(t)
    for t in graph.outputs:
        if t not in written:
            raise ModelError(f"model output {graph.tensors[t].describe()} is never computed")
    return graph


PASSES: list[Callable[[Graph], Graph]] = [check_topological, fold_shape_ops, remove_dead_ops, fuse_activations]


def run_passes(graph: Graph) -> Graph:
    for p in PASSES:
        graph = p(graph)
    return graph
