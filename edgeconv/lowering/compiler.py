"""The pipeline: read -> passes (unsupported ops, topology, shape inference with the op checks and
constant folding, dead ops, fused activations) -> lower each op -> plan the arena. Emission is
emitter.py."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgeconv.frontend.boards import Board
from edgeconv.frontend.ir import Graph, ModelError, Op
from edgeconv.frontend.names import check_name, name_from_stem
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering import ops as _ops  # noqa: F401  (registers every lowering)
from edgeconv.lowering.ops.base import Alias, CArray, Kernel, WeightForm, lower_op
from edgeconv.lowering.passes import run_passes
from edgeconv.lowering.planner import ArenaPlan, Block, plan_arena

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
    weights: WeightChoice | None = None  # which layers keep int8 weights and which take int16
    # With io_outside_arena: the blocks holding graph inputs/outputs, each its own static buffer
    # (not in `plan`); empty by default (everything in the arena).
    io_blocks: list[Block] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(s.kernel.macs for s in self.steps)

    @property
    def ram_bytes(self) -> int:
        """The arena plus any input/output buffers kept outside it."""
        a = self.plan.alignment
        return self.plan.size + sum(-(-max(b.size, 1) // a) * a for b in self.io_blocks)

    def tensor_offset(self, index: int) -> int:
        return self.plan.tensor_offsets[index]


def compile_file(
    path: str | Path,
    name: str | None = None,
    reuse: bool = True,
    weights: str = "auto",
    board: Board | None = None,
    io_outside_arena: bool = False,
) -> CompiledModel:
    """Compile a .tflite file. `name` (an explicit --name) is used as given if it is a valid,
    unreserved C identifier and refused otherwise; without it the file's stem is made one.
    `weights` and `board` (the target, when known): see choose_weight_forms."""
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
    return compile_bytes(data, name, reuse=reuse, weights=weights, board=board, io_outside_arena=io_outside_arena)


def compile_bytes(
    data: bytes,
    name: str,
    reuse: bool = True,
    weights: str = "auto",
    board: Board | None = None,
    io_outside_arena: bool = False,
) -> CompiledModel:
    """`name` is a label (say a file stem): it is made a C identifier, and refused if reserved."""
    name = name_from_stem(name)
    graph = read_tflite_bytes(data, name=name)
    return compile_graph(
        graph,
        name,
        hashlib.sha256(data).hexdigest(),
        reuse=reuse,
        weights=weights,
        board=board,
        io_outside_arena=io_outside_arena,
    )


def compile_graph(
    graph: Graph,
    name: str,
    model_sha256: str = "",
    reuse: bool = True,
    weights: str = "auto",
    board: Board | None = None,
    io_outside_arena: bool = False,
) -> CompiledModel:
    """`io_outside_arena`: graph inputs and outputs (and the tensors sharing their buffers) get
    their own static buffers; the planner places the rest in the arena."""
    graph = run_passes(graph)
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
    flash = board.flash_bytes or None if board is not None else None
    choice = choose_weight_forms(
        steps, weights, flash, _constant_bytes(graph, steps, aliases), dsp=board.has_dsp if board is not None else True
    )
    steps = [Step(s.op, k) for s, k in zip(steps, choice.kernels)]
    blocks = _blocks(graph, steps, aliases)
    io_blocks: list[Block] = []
    if io_outside_arena:
        edges = set(graph.inputs) | set(graph.outputs)
        io_blocks = [b for b in blocks if edges & set(b.tensors)]
        blocks = [b for b in blocks if not edges & set(b.tensors)]
    plan = plan_arena(blocks, ARENA_ALIGNMENT, reuse=reuse)
    return CompiledModel(name_from_stem(name), graph, steps, aliases, plan, model_sha256, choice, io_blocks)


# ---------------------------------------------------------------------------------------------
# Flash for speed: which layers take their weights pre-widened to int16

WEIGHT_MODES = ("int8", "int16", "auto")
# Without a target's flash size, `auto` takes a wider form only where it pays well: at least
# this many instructions saved per inference for each extra flash byte (a convolution whose
# weights serve 16 or more output pixels; never a batch-1 FULLY_CONNECTED, whose weights are
# each used once).
AUTO_MIN_SAVED_PER_BYTE = 2.0
# With a target's flash size, `auto` fills it in order of instructions saved per byte, leaving
# this share of the part for the application and the runtime code (estimated below).
FLASH_RESERVE_FRACTION = 0.125
CODE_ALLOWANCE_BYTES = 16 * 1024  # the runtime, startup code and main, generously


@dataclass
class WeightChoice:
    mode: str  # what was asked: int8, int16 or auto
    kernels: list[Kernel]  # per step, with the chosen form applied
    chosen: dict[int, str]  # step index -> form name, for every step that offers forms
    extra_flash_bytes: int  # over keeping every layer int8
    instructions_saved: int  # estimated, per inference
    budget_bytes: int | None  # the extra flash `auto` was allowed (None: no target given)
    dsp: bool = True  # False: the target has no DSP extension, where int16 weights save nothing

    def to_dict(self, steps: list[Step]) -> dict:
        """For --json: the mode, totals, and each MAC layer's form."""
        return {
            "weights_mode": self.mode,
            "weights_int16_extra_flash_bytes": self.extra_flash_bytes,
            "weights_int16_instructions_saved": self.instructions_saved,
            "weight_forms": [
                {"op": steps[i].op.index, "opcode": steps[i].op.opcode, "form": f}
                for i, f in sorted(self.chosen.items())
            ],
        }

    def summary(self) -> str:
        wide = [i for i, f in self.chosen.items() if f != "int8"]
        if not self.chosen:
            return "weights int8 (no layer offers another form)"
        if not wide:
            why = "; the core has no DSP extension, where int16 weights save nothing" if not self.dsp else ""
            return f"weights int8 on all {len(self.chosen)} MAC layers ({self.mode}{why})"
        return (
            f"weights int16 on {len(wide)} of {len(self.chosen)} MAC layers ({self.mode}): "
            f"+{self.extra_flash_bytes:,} B flash, ~{self.instructions_saved:,} instructions saved per inference"
        )


def apply_weight_form(kernel: Kernel, form: WeightForm) -> Kernel:
    """The kernel with `form`'s params in place of the default's (None: a NULL pointer)."""
    return replace(
        kernel, params={**kernel.params, **form.params}, weight_form=form.name, func=form.func or kernel.func
    )


def _with_every_form_field(kernel: Kernel) -> Kernel:
    """The default form with a NULL for each field only another form sets (weights16), so
    that every form spells out the same struct fields."""
    missing = {k: None for f in kernel.weight_forms for k in f.params if k not in kernel.params}
    return replace(kernel, params={**kernel.params, **missing}) if missing else kernel


def choose_weight_forms(
    steps: list[Step], mode: str, flash_bytes: int | None, base_flash_bytes: int, dsp: bool = True
) -> WeightChoice:
    """Choose per layer between int8 weights (sign-extended at run time) and the int16 form
    (pre-widened, faster, twice the flash). `int8`/`int16` force one form wherever a kernel
    offers it. `auto` ranks the layers by instructions saved per extra flash byte and takes
    them in that order while the model still fits `flash_bytes` less a reserve; without
    `flash_bytes` it takes those saving at least AUTO_MIN_SAVED_PER_BYTE; for a core without
    the DSP extension (`dsp` False), whose portable kernels read an int16 weight no faster
    than an int8 one, it keeps int8."""
    if mode not in WEIGHT_MODES:
        raise ModelError(f"weights {mode!r}: choose one of {', '.join(WEIGHT_MODES)}")
    kernels = [_with_every_form_field(s.kernel) for s in steps]
    offers = {i: {f.name: f for f in k.weight_forms} for i, k in enumerate(kernels) if k.weight_forms}
    chosen = {i: "int8" for i in offers}
    budget: int | None = None
    if mode == "int16":
        picked = [i for i, forms in offers.items() if "int16" in forms]
    elif mode == "auto" and not dsp:
        picked = []
    elif mode == "auto":
        ranked = sorted(
            (i for i, forms in offers.items() if "int16" in forms),
            key=lambda i: (-_saved_per_byte(offers[i]["int16"]), i),
        )
        picked = []
        if flash_bytes is None:
            picked = [i for i in ranked if _saved_per_byte(offers[i]["int16"]) >= AUTO_MIN_SAVED_PER_BYTE]
        else:
            budget = max(int(flash_bytes * (1 - FLASH_RESERVE_FRACTION)) - base_flash_bytes - CODE_ALLOWANCE_BYTES, 0)
            used = 0
            for i in ranked:
                form = offers[i]["int16"]
                if form.instructions_saved > 0 and used + form.extra_flash_bytes <= budget:
                    picked.append(i)
                    used += form.extra_flash_bytes
    else:
        picked = []
    extra = saved = 0
    for i in sorted(picked):
        form = offers[i]["int16"]
        kernels[i] = apply_weight_form(kernels[i], form)
        chosen[i] = form.name
        extra += form.extra_flash_bytes
        saved += form.instructions_saved
    return WeightChoice(mode, kernels, chosen, extra, saved, budget, dsp)


def _saved_per_byte(form: WeightForm) -> float:
    return form.instructions_saved / max(form.extra_flash_bytes, 1)


def _constant_bytes(graph: Graph, steps: list[Step], aliases: dict[int, int]) -> int:
    """Flash the int8 model's constants take: every kernel's arrays plus constant tensors
    passed to kernels (an estimate for the budget; `build` measures the real ELF)."""
    total = 0
    seen: set[int] = set()
    for s in steps:
        total += sum(v.nbytes for v in s.kernel.params.values() if isinstance(v, CArray))
        total += 4 * len(s.kernel.params)
        for t in s.kernel.inputs:
            if graph.tensors[t].data is not None and t not in seen:
                seen.add(t)
                total += graph.tensors[t].nbytes
    return total


def _lower_checked(graph: Graph, op: Op):
    """Lower one op; a lowering that trips over a malformed op (a missing input, an
    impossible shape) reports it as the op's problem, in one line, not as a traceback."""
    if (
        not op.outputs
        or any(t not in graph.tensors for t in op.outputs)
        or any(t >= 0 and t not in graph.tensors for t in op.inputs)
    ):
        raise ModelError(f"op {op.index} {op.opcode}: refers to a tensor the model does not have")
    try:
        return lower_op(graph, op)
    except ModelError:
        raise
    except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError, AttributeError):
        # The safety net: opchecks and the lowerings check explicitly, so this is rarely hit;
        # the exception's own text talks about Python, not the model, and is not shown.
        raise ModelError(
            f"{op.describe(graph)}: malformed op: its inputs, outputs, shapes or options do not fit together"
        ) from None


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
