"""`edgeconv advise MODEL --board B`: what limits a model on a board, and what-ifs measured by
recompiling variants of it.

The limits are the figures `inspect --board` and `build` compute, reused, never estimated
again: the firmware's fit (firmware.board_fit: flash, and RAM with the computed stack), the
arena plan (the step whose live blocks set the peak, and those blocks: tensors with their
producing ops, or a kernel's scratch), each layer's constants (the arrays its kernel emits)
and its instructions counted on the board's emulated core (emulate.count_instructions on one
seeded random input, as inspect counts them).

The what-ifs are variants of the graph (variants.py: a layer with stride 2, half its filters,
a smaller kernel, or depthwise-separable; the whole model with half the filters or half the
input resolution), each compiled by the normal pipeline for the board and measured the same
way. The layers tried are those at the RAM peak (the op running there and the producers of the
tensors live there), then the layers with the most constants and the most instructions.

The sweep (`--arch A --data D`) is sweep.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgeconv.frontend.ir import Graph, ModelError

# Imported when used: edgeconv/__init__.py loads this module at package import (its function
# `advise` would otherwise be replaced by the module on first import), so it stays light.
if TYPE_CHECKING:
    from edgeconv.frontend.boards import Board
    from edgeconv.lowering.compiler import CompiledModel

# Progress: (what is being done, steps done, steps in all).
Progress = Callable[[str, int, int], None]

TOP_LAYERS = 3  # the flash and instruction tables' length
DEFAULT_LAYERS = 4  # layers tried as variants


@dataclass
class Measure:
    """One compiled model's figures on a board."""

    compiled: CompiledModel
    arena_bytes: int
    constants_bytes: int  # the emitted constants (flash_const_bytes)
    flash_bytes: int  # the firmware's, as build links it
    ram_bytes: int  # the firmware's: arena + stack + data
    macs: int
    instructions: int | None
    per_op_instructions: dict[int, int]  # op index -> instructions
    fits: bool
    short: list[str]
    fit: dict


def measure(compiled: CompiledModel, board: Board, board_name: str, instructions: bool = True) -> Measure:
    """The fit as `build` links the firmware, and the instructions per op counted on the
    board's emulated core (inspect --board's count: one random input, seed 0)."""
    from edgeconv.emit.emitter import emit
    from edgeconv.targets.firmware import board_fit

    emitted = emit(compiled)
    if not instructions:
        fit = board_fit(compiled, emitted, board)
        total, per_op = None, {}
    else:
        from concurrent.futures import ThreadPoolExecutor

        from edgeconv.checking.validation import random_inputs
        from edgeconv.targets.emulate import build_counted, count_instructions

        # The two firmware builds (the fit's, as build links it; the counted one) are compiler
        # runs in their own temporary folders: side by side on two cores.
        with ThreadPoolExecutor(2) as pool:
            counted = pool.submit(build_counted, compiled, board_name)
            try:
                fit = board_fit(compiled, emitted, board)
                fw = counted.result()
            except BaseException:
                if counted.done() and counted.exception() is None:
                    counted.result().close()
                else:
                    counted.add_done_callback(lambda f: f.exception() is None and f.result().close())
                raise
        try:
            total, per_step = count_instructions(fw, random_inputs(compiled, 1, 0)[0])
        finally:
            fw.close()
        per_op = {compiled.steps[i].op.index: n for i, n in per_step.items()}
    return Measure(
        compiled,
        compiled.ram_bytes,
        emitted.flash_const_bytes,
        fit.flash_bytes,
        fit.ram_bytes,
        compiled.macs,
        total,
        per_op,
        fit.fits,
        list(fit.short),
        fit.to_dict(),
    )


def peak_step(compiled: CompiledModel) -> tuple[int, int]:
    """The step where the live blocks (aligned, as the planner's lower bound adds them) are
    largest, and that total."""
    plan = compiled.plan
    a = plan.alignment
    best, best_step = -1, 0
    for s in range(max(len(compiled.steps), 1)):
        live = sum(-(-max(b.size, 1) // a) * a for b in plan.blocks if b.first <= s <= b.last)
        if live > best:
            best, best_step = live, s
    return best_step, best


def peak_tensors(compiled: CompiledModel, step: int) -> list[dict]:
    """The blocks live at `step`, largest first: each tensor (the buffer's first) with its
    size, shape and producer, or a kernel's scratch."""
    g = compiled.graph
    producers = g.producers()
    rows = []
    for b in compiled.plan.blocks:
        if not b.first <= step <= b.last:
            continue
        if not b.tensors:  # scratch of a step
            s = int(b.key[1:])
            op = compiled.steps[s].op
            rows.append(
                {
                    "tensor": None,
                    "name": f"scratch of op {op.index} {op.opcode}",
                    "bytes": b.size,
                    "shape": None,
                    "producer_op": op.index,
                    "producer": f"op {op.index} {op.opcode}",
                    "lifetime": [b.first, b.last],
                    "offset": compiled.plan.offsets.get(b.key),
                }
            )
            continue
        t = g.tensors[b.tensors[0]]
        op = producers.get(t.index)
        rows.append(
            {
                "tensor": t.index,
                "name": t.name,
                "bytes": b.size,
                "shape": list(t.shape),
                "producer_op": op.index if op is not None else None,
                "producer": f"op {op.index} {op.opcode}" if op is not None else "model input",
                "lifetime": [b.first, b.last],
                "offset": compiled.plan.offsets.get(b.key),
            }
        )
    return sorted(rows, key=lambda r: (-r["bytes"], r["name"]))


def layer_flash(compiled: CompiledModel) -> dict[int, int]:
    """Bytes of constant arrays each op's kernel emits (weights, biases, multipliers, tables)."""
    from edgeconv.lowering.ops.base import CArray

    return {
        s.op.index: sum(v.nbytes for v in s.kernel.params.values() if isinstance(v, CArray)) for s in compiled.steps
    }


def _top(values: dict[int, int], compiled: CompiledModel, key: str, n: int) -> list[dict]:
    opcodes = {s.op.index: s.op.opcode for s in compiled.steps}
    total = sum(values.values()) or 1
    order = sorted(values, key=lambda i: (-values[i], i))[:n]
    return [
        {"op": i, "opcode": opcodes[i], key: values[i], "share": round(values[i] / total, 4)}
        for i in order
        if values[i] > 0
    ]


def candidate_layers(
    graph: Graph,
    compiled: CompiledModel,
    peak: list[dict],
    peak_op: int,
    flash: list[dict],
    instr: list[dict],
    limit: int,
) -> list[int]:
    """The ops tried as variants, at most `limit`, among those with a change that applies: at
    the peak (the op running there, then the producers of the live tensors, largest first; all
    but two of the places when there are more), then the top flash and instruction layers in
    turn (the largest of each first)."""
    from edgeconv.reports.variants import applicable_changes

    ops = {op.index: op for op in graph.ops}

    def usable(order: list[int], taken: list[int]) -> list[int]:
        out: list[int] = []
        for i in order:
            if i in ops and i not in taken and i not in out and applicable_changes(graph, ops[i]):
                out.append(i)
        return out

    at_peak = usable([peak_op] + [r["producer_op"] for r in peak if r["producer_op"] is not None], [])
    by_flash = usable([r["op"] for r in flash], at_peak)
    by_instr = usable([r["op"] for r in instr], at_peak)
    rest: list[int] = []
    for pair in zip(by_flash + [None] * len(by_instr), by_instr + [None] * len(by_flash)):
        rest += [i for i in pair if i is not None and i not in rest]
    if limit <= 0:
        return []
    take_rest = min(len(rest), max(0, limit - min(len(at_peak), max(1, limit - 2))))
    return at_peak[: limit - take_rest] + rest[:take_rest]


def _variant_row(change, base: Measure, m: Measure | None, graph: Graph, error: str | None) -> dict:
    ops = {op.index: op.opcode for op in graph.ops}
    row = {
        "change": change.text,
        "kind": change.kind,
        "op": change.op,
        "opcode": ops.get(change.op) if change.op is not None else None,
    }
    if m is None:
        return {**row, "error": error, "fits": None}
    return {
        **row,
        "error": None,
        "fits": m.fits,
        "arena_bytes": m.arena_bytes,
        "ram_bytes": m.ram_bytes,
        "flash_bytes": m.flash_bytes,
        "macs": m.macs,
        "instructions": m.instructions,
        "ram_cut_bytes": base.ram_bytes - m.ram_bytes,
        "flash_cut_bytes": base.flash_bytes - m.flash_bytes,
        "macs_cut": base.macs - m.macs,
        "instructions_cut": (
            base.instructions - m.instructions if base.instructions is not None and m.instructions is not None else None
        ),
        "short": m.short,
    }


def advise_model(
    data: bytes,
    name: str,
    board_name: str,
    layers: int = DEFAULT_LAYERS,
    whole_model: bool = True,
    instructions: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """The advice as plain data (AdviseResult's fields but `model`)."""
    from edgeconv.frontend.boards import load_board
    from edgeconv.frontend.reader import read_tflite_bytes
    from edgeconv.lowering.compiler import compile_graph
    from edgeconv.lowering.passes import run_passes
    from edgeconv.reports.variants import (
        LAYER_CHANGES,
        MODEL_CHANGES,
        Change,
        NotApplicable,
        applicable_changes,
        make_variant,
    )
    from edgeconv.targets.emulate import can_count_instructions

    board = load_board(board_name)
    if board.family == "host":
        raise ModelError(
            f"board {board.name} is the host: advise needs a part with flash and RAM to fit "
            "(cortex-m0plus, cortex-m4, ...)"
        )
    notes = []
    if instructions and not can_count_instructions(board):
        instructions = False
        notes.append(f"no instruction-counting emulator models {board.name}: fit and MACs only")
    graph = run_passes(read_tflite_bytes(data, name=name))
    from edgeconv.progress import progress_task

    say = progress or (lambda what, done, total: None)
    say("measuring the model", 0, 1)
    with progress_task(f"advise: measuring {name} on {board.name}") as advance:
        base = measure(compile_graph(graph, name, board=board), board, board_name, instructions)
        advance()
    compiled = base.compiled
    step, live = peak_step(compiled)
    peak = peak_tensors(compiled, step)
    peak_op = compiled.steps[step].op
    flash = _top(layer_flash(compiled), compiled, "flash_bytes", TOP_LAYERS)
    instr = _top(base.per_op_instructions, compiled, "instructions", TOP_LAYERS) if instructions else []
    chosen = candidate_layers(graph, compiled, peak, peak_op.index, flash, instr, layers)
    ops = {op.index: op for op in graph.ops}
    changes = [Change(k, i) for i in chosen for k in LAYER_CHANGES if k in applicable_changes(graph, ops[i])]
    if whole_model:
        changes += [Change(k) for k in MODEL_CHANGES]
    variants = []
    with progress_task("advise: variants", total=len(changes)) as advance:
        for n, change in enumerate(changes):
            say(f"variant {n + 1}/{len(changes)}: {change.text}", n, len(changes))
            advance(0, description=f"advise: {change.text}")
            try:
                v = make_variant(graph, [change], seed=seed)
            except NotApplicable as exc:
                v, error = None, str(exc)
            except (ValueError, IndexError, KeyError, TypeError) as exc:  # an op the rewrite does not know
                v, error = None, f"the graph cannot follow the change ({exc})"
            if v is not None:
                try:
                    m = measure(compile_graph(v, name, board=board), board, board_name, instructions)
                    variants.append(_variant_row(change, base, m, graph, None))
                except ModelError as exc:  # the variant compiles to something edgeconv refuses
                    variants.append(_variant_row(change, base, None, graph, f"does not compile: {exc}"))
            else:
                variants.append(_variant_row(change, base, None, graph, error))
            advance()
    say("done", len(changes), len(changes))
    limits = []
    if base.short:
        limits = list(base.short)
    return {
        "board": board.name,
        "part": board.part,
        "fits": base.fits,
        "limits": limits,
        "fit": base.fit,
        "arena_bytes": base.arena_bytes,
        "constants_bytes": base.constants_bytes,
        "flash_bytes": base.flash_bytes,
        "ram_bytes": base.ram_bytes,
        "macs": base.macs,
        "instructions": base.instructions,
        "peak": {
            "step": step,
            "op": peak_op.index,
            "opcode": peak_op.opcode,
            "live_bytes": live,
            "arena_bytes": compiled.plan.size,
            "lower_bound": compiled.plan.lower_bound,
            "tensors": peak,
        },
        "flash_layers": flash,
        "instruction_layers": instr,
        "layers_tried": chosen,
        "variants": variants,
        "notes": notes,
    }


SHORT_TEXT = {
    "stride2": "stride 2",
    "half_filters": "half filters",
    "smaller_kernel": "smaller kernel",
    "separable": "dw-separable",
    "half_width": "all: half filters",
    "half_resolution": "input: half res.",
    "half_width+half_resolution": "all: half filters+res.",
}


def _over_parts(ram: int, flash: int, fit: dict) -> list[str]:
    parts = []
    if fit["board_ram_bytes"] and ram > fit["board_ram_bytes"]:
        parts.append(f"RAM {ram - fit['board_ram_bytes']:,}")
    if fit["board_flash_bytes"] and flash > fit["board_flash_bytes"]:
        parts.append(f"flash {flash - fit['board_flash_bytes']:,}")
    return parts


def variant_table_rows(r: dict) -> list[list[str]]:
    """The model as it is, then each variant, as text cells for the command's table: change,
    fits, firmware RAM and what the change cuts from it, flash and its cut, MACs, instructions."""

    def num(n: int | None) -> str:
        return f"{n:,}" if n is not None else "-"

    def cut(n: int) -> str:
        return f"{-n:+,}" if n else "0"

    rows = [
        [
            "as is",
            "yes" if r["fits"] else "no",
            num(r["ram_bytes"]),
            "",
            num(r["flash_bytes"]),
            "",
            num(r["macs"]),
            num(r["instructions"]),
        ]
    ]
    for v in r["variants"]:
        where = f"op {v['op']} " if v["op"] is not None else ""
        change = where + SHORT_TEXT[v["kind"]]
        if v.get("error"):
            rows.append([change, "n/a", "", "", "", "", "", ""])
            continue
        rows.append(
            [
                change,
                "yes" if v["fits"] else "no",
                num(v["ram_bytes"]),
                cut(v["ram_cut_bytes"]),
                num(v["flash_bytes"]),
                cut(v["flash_cut_bytes"]),
                num(v["macs"]),
                num(v["instructions"]),
            ]
        )
    return rows


def _short_name(name: str, width: int = 40) -> str:
    """A converter's tensor name (often several ';'-joined names) cut to its last part."""
    last = name.split(";")[-1]
    return last if len(last) <= width else "..." + last[-(width - 3) :]


def print_advice(r: dict) -> None:
    """The command's text output: the limits, the peak, the top layers, the variants (rich
    tables), or the sweep's summary."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(80, min(Console().width, 120)))
    if r.get("sweep") is not None:
        print_sweep(console, r)
        return
    fit = r["fit"]
    console.print(
        f"{r['model']} on {r['board']} ({r['part']}): firmware flash {r['flash_bytes']:,} of "
        f"{fit['board_flash_bytes']:,} B, RAM {r['ram_bytes']:,} of {fit['board_ram_bytes']:,} B "
        f"(arena {r['arena_bytes']:,}), {r['macs']:,} MACs"
        + (f", {r['instructions']:,} instructions" if r["instructions"] is not None else "")
        + (": fits" if r["fits"] else ": does not fit")
    )
    for line in r["limits"]:
        console.print(f"  {line}")
    p = r["peak"]
    console.print(f"RAM peak {p['live_bytes']:,} B at step {p['step']} (op {p['op']} {p['opcode']}); live there:")
    for t in p["tensors"]:
        shape = "x".join(map(str, t["shape"])) if t["shape"] else "-"
        what = _short_name(t["name"], 22) if t["tensor"] is not None else "(scratch)"
        console.print(f"  {t['bytes']:>8,} B {shape:<13} from {t['producer']:<23} {what}")
    for title, rows, key in (
        ("flash", r["flash_layers"], "flash_bytes"),
        ("instructions", r["instruction_layers"], "instructions"),
    ):
        if rows:
            console.print(
                f"most {title}: " + ", ".join(f"op {x['op']} {x['opcode']} {x[key]:,} ({x['share']:.0%})" for x in rows)
            )
    table = Table(
        title="variants, each compiled for the board (firmware bytes)", title_justify="left", pad_edge=False, box=None
    )
    for col, justify in (
        ("change", "left"),
        ("fits", "left"),
        ("RAM", "right"),
        ("", "right"),
        ("flash", "right"),
        ("", "right"),
        ("MACs", "right"),
        ("instr.", "right"),
    ):
        table.add_column(col, justify=justify, overflow="fold")
    for row in variant_table_rows(r):
        table.add_row(*row)
    console.print(table)
    for v in r["variants"]:
        if v.get("error"):
            console.print(f"n/a: {v['change']}: {v['error']}")
    if r["limits"]:
        parts = _over_parts(r["ram_bytes"], r["flash_bytes"], r["fit"])
        console.print("to fit as is, cut " + " and ".join(f"{p} B" for p in parts))
    for note in r.get("notes", []):
        console.print(f"note: {note}")
    fitting = [v for v in r["variants"] if v.get("fits")]
    if not r["variants"]:
        return
    if fitting:
        console.print(
            f"{len(fitting)} of {len(r['variants'])} variants fit: " + "; ".join(v["change"] for v in fitting)
        )
    else:
        console.print(f"none of the {len(r['variants'])} variants fits alone")


def print_sweep(console, r: dict) -> None:
    s = r["sweep"]
    console.print(
        f"sweep of {s['arch']} on {s['data']} for {r['board']} ({r['part']}): {s['completed']} trials "
        f"({s['new_trials']} new), {s['fitting']} fit; study {s['study_name']!r} in {s['storage']}"
    )
    best = s.get("recommended")
    if best is not None:
        console.print(
            f"recommended: trial {best['number']} {best['params']}: int8 accuracy {best['accuracy']:.4f}, "
            f"{best['instructions']:,} instructions, RAM {best['ram_bytes']:,} B, flash {best['flash_bytes']:,} B"
        )
    else:
        console.print("no trial fits the board")
    console.print(f"rule: {s['rule']}")
    console.print(
        f"Pareto front of fitting trials: {', '.join(str(n) for n in s['pareto'])}; figure {s['figure']}"
        + (f"; the recommended model {s['model']}" if s.get("model") else "")
    )
