"""Per-layer figures for `inspect`: op, shapes, parameters, MACs, activation bytes, offset,
scratch, and the form of the weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: edgeconv/__init__.py loads this module at `import edgeconv`
    from edgeconv.lowering.compiler import CompiledModel


def _shape(model: CompiledModel, t: int) -> str:
    tensor = model.graph.tensors[t]
    dims = "x".join(str(d) for d in tensor.shape) or "scalar"
    return f"{tensor.dtype}[{dims}]"


def layer_rows(model: CompiledModel) -> list[dict]:
    """One row per op of the (passed) graph, in execution order; aliases included."""
    by_op = {s.op.index: s for s in model.steps}
    step_of = {s.op.index: i for i, s in enumerate(model.steps)}
    block_of = {t: b for b in model.plan.blocks for t in b.tensors}
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
                # the kernel's place in the op sequence (None: an alias, no call)
                "step": step_of.get(op.index),
                # flash of the weight arrays in the form chosen (before deduplication across layers)
                "weights_bytes": _weight_bytes(step.kernel.params) if step else 0,
                # lifetime of the output's arena block (first and last step it is live); None outside the arena
                "first_step": block_of[out].first if out in block_of else None,
                "last_step": block_of[out].last if out in block_of else None,
            }
        )
    return rows


def io_tensors(model: CompiledModel) -> tuple[list[dict], list[dict]]:
    """The model's inputs and outputs, in order: index, name, shape, dtype, bytes and the affine
    quantization (real = scale * (q - zero_point)); scale and zero_point are None for an
    unquantized tensor (float32, bool), lists with `quant_axis` if quantized per channel."""

    def describe(t: int) -> dict:
        tensor = model.graph.tensors[t]
        q = tensor.quant
        if q is None:
            scale, zero_point, axis = None, None, None
        elif q.per_channel:
            scale, zero_point, axis = [float(s) for s in q.scale], [int(z) for z in q.zero_point], q.axis
        else:
            scale, zero_point, axis = float(q.s), int(q.zp), None
        entry = {
            "index": t,
            "name": tensor.name,
            "shape": [int(d) for d in tensor.shape],
            "dtype": tensor.dtype,
            "bytes": tensor.nbytes,
            "scale": scale,
            "zero_point": zero_point,
        }
        if axis is not None:
            entry["quant_axis"] = axis
        return entry

    return [describe(t) for t in model.graph.inputs], [describe(t) for t in model.graph.outputs]


def _weight_bytes(params: dict) -> int:
    from edgeconv.lowering.ops.base import CArray

    return sum(v.nbytes for v in params.values() if isinstance(v, CArray) and v.role == "weights")
