"""Per-layer figures for `inspect`: op, shapes, parameters, MACs, activation bytes, offset,
scratch, and the form of the weights."""

from __future__ import annotations

from .compiler import CompiledModel


def _shape(model: CompiledModel, t: int) -> str:
    tensor = model.graph.tensors[t]
    dims = "x".join(str(d) for d in tensor.shape) or "scalar"
    return f"{tensor.dtype}[{dims}]"


def layer_rows(model: CompiledModel) -> list[dict]:
    """One row per op of the (passed) graph, in execution order; aliases included."""
    by_op = {s.op.index: s for s in model.steps}
    rows = []
    for op in model.graph.ops:
        step = by_op.get(op.index)
        acts = [t for t in op.inputs if t >= 0 and model.graph.tensors[t].data is None]
        alias = step is None
        out = op.outputs[0]
        rows.append(
            {
                "index": op.index,
                "op": op.opcode,
                "inputs": [_shape(model, t) for t in acts],
                "outputs": [_shape(model, t) for t in op.outputs],
                "params": step.kernel.summary if step else "no copy (shares its input's memory)",
                "macs": step.kernel.macs if step else 0,
                "activation_bytes": sum(model.graph.tensors[t].nbytes for t in op.outputs),
                "scratch_bytes": step.kernel.scratch_bytes if step else 0,
                # int8, or int16 where the compiler chose pre-widened weights; None: no weights
                "weights_form": step.kernel.weight_form if step and step.kernel.weight_forms else None,
                "arena_offset": model.plan.tensor_offsets.get(out),
                "alias": alias,
            }
        )
    return rows
