"""The pipeline: read -> passes -> lower each op -> plan the arena. Emission is emitter.py."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from . import ops as _ops  # noqa: F401  (registers every lowering)
from .ir import Graph, ModelError, Op
from .names import check_name, name_from_stem
from .opchecks import check_ops
from .ops.base import Alias, Kernel, lower_op
from .passes import run_passes
from .planner import ArenaPlan, Block, plan_arena
from .reader import read_tflite_bytes

ARENA_ALIGNMENT = 16


@dataclass
class Step:
    op: Op
    kernel: Kernel


@dataclass
class CompiledModel:
    name: str  # C identifier used as the prefix of every generated symbol
    graph: Graph  # after passes
    steps: list[Step]  # kernels in execution order
    aliases: dict[int, int]  # tensor -> the tensor whose buffer it shares
    plan: ArenaPlan
    model_sha256: str

    @property
    def macs(self) -> int:
        return sum(s.kernel.macs for s in self.steps)

    @property
    def ram_bytes(self) -> int:
        return self.plan.size

    def tensor_offset(self, index: int) -> int:
        return self.plan.tensor_offsets[index]


def compile_file(path: str | Path, name: str | None = None, reuse: bool = True) -> CompiledModel:
    """Compile a .tflite file. `name` (an explicit --name) is used as given if it is a valid,
    unreserved C identifier and refused otherwise; without it the file's stem is made one."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    if not path.is_file():
        raise ModelError(f"{path}: not a file")
    name = check_name(name) if name is not None else name_from_stem(path.stem)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({(exc.strerror or 'unreadable').lower()})") from None
    return compile_bytes(data, name, reuse=reuse)


def compile_bytes(data: bytes, name: str, reuse: bool = True) -> CompiledModel:
    """`name` is a label (say a file stem): it is made a C identifier, and refused if reserved."""
    name = name_from_stem(name)
    graph = read_tflite_bytes(data, name=name)
    return compile_graph(graph, name, hashlib.sha256(data).hexdigest(), reuse=reuse)


def compile_graph(graph: Graph, name: str, model_sha256: str = "", reuse: bool = True) -> CompiledModel:
    graph = run_passes(check_ops(graph))
    _check_io(graph)
    steps: list[Step] = []
    aliases: dict[int, int] = {}
    tensors = dict(graph.tensors)
    for op in graph.ops:
        lowered = _lower_checked(replace(graph, tensors=tensors), op)
        if isinstance(lowered, Alias):
            src = tensors[lowered.source]
            if src.data is not None:  # a reshape of a constant is a constant
                tgt = tensors[lowered.target]
                tensors[lowered.target] = replace(tgt, data=src.data.reshape(tgt.shape))
            else:
                aliases[lowered.target] = aliases.get(lowered.source, lowered.source)
        else:
            steps.append(Step(op, lowered))
    graph = replace(graph, tensors=tensors)
    for t in graph.outputs:
        if graph.tensors[t].data is not None:
            raise ModelError(f"model output {graph.tensors[t].describe()} is a constant; nothing to compute")
    plan = plan_arena(_blocks(graph, steps, aliases), ARENA_ALIGNMENT, reuse=reuse)
    return CompiledModel(name_from_stem(name), graph, steps, aliases, plan, model_sha256)


def _lower_checked(graph: Graph, op: Op):
    """Lower one op; a lowering that trips over a malformed op (a missing input, an
    impossible shape) reports it as the op's problem, in one line, not as a traceback."""
    if not op.outputs or any(t not in graph.tensors for t in op.outputs) or any(
        t >= 0 and t not in graph.tensors for t in op.inputs
    ):
        raise ModelError(f"op {op.index} {op.opcode}: refers to a tensor the model does not have")
    try:
        return lower_op(graph, op)
    except ModelError:
        raise
    except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError, AttributeError):
        # The safety net: opchecks and the lowerings check explicitly, so this is rarely hit;
        # the exception's own text talks about Python, not the model, and is not shown.
        raise ModelError(f"{op.describe(graph)}: malformed op: its inputs, outputs, shapes or options do not "
                         "fit together") from None


def _check_io(graph: Graph) -> None:
    for t in graph.inputs + graph.outputs:
        tensor = graph.tensors[t]
        if tensor.dtype not in ("int8", "uint8", "int16", "float32", "int32"):
            raise ModelError(f"model input/output {tensor.describe()} has unsupported type {tensor.dtype.upper()}")
    if all(graph.tensors[t].dtype == "float32" for t in graph.inputs) and not any(
        graph.tensors[t].quant for t in graph.tensors if graph.tensors[t].data is None
    ):
        raise ModelError(
            f"{graph.name}: this is a float model (no quantized tensors); quantize it to int8 first "
            "(edgeconv quantize, or the TFLite converter with a representative dataset)"
        )


def _blocks(graph: Graph, steps: list[Step], aliases: dict[int, int]) -> list[Block]:
    """Lifetimes over kernel steps: graph inputs from step 0, outputs to the last step."""
    last_step = max(len(steps) - 1, 0)
    blocks: dict[int, Block] = {}

    def block(t: int, step: int) -> Block:
        root = aliases.get(t, t)
        b = blocks.get(root)
        if b is None:
            b = blocks[root] = Block(f"t{root}", graph.tensors[root].nbytes, step, step, [root])
        if t not in b.tensors:
            b.tensors.append(t)
        b.first, b.last = min(b.first, step), max(b.last, step)
        return b

    for t in graph.inputs:
        block(t, 0)
    for i, s in enumerate(steps):
        for t in s.kernel.inputs:
            if graph.tensors[t].data is None:
                block(t, i)
        for t in s.kernel.outputs:
            block(t, i)
    for t in graph.outputs:
        block(t, last_step)
    for t, root in aliases.items():  # aliases nobody reads still need an address
        if root in blocks and t not in blocks[root].tensors:
            blocks[root].tensors.append(t)
    result = list(blocks.values())
    for i, s in enumerate(steps):
        if s.kernel.scratch_bytes > 0:
            result.append(Block(f"s{i}", s.kernel.scratch_bytes, i, i))
    return result
