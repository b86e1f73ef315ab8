"""Instructions per inference: edgeconv against TensorFlow Lite Micro, on an emulated Cortex-M.

    python benchmarks/cortex_m.py [--board cortex-m4] [--per-layer] [--models DIR]
                                  [--anchors DIR] [--out FILE] [--no-reference]

For every .tflite under the models folder (default: ../shared/models beside the checkout) it
builds edgeconv's firmware for the board, counts the instructions of one inference with
edgeconv's counter (edgeconv.targets.emulate, unicorn: from the entry of <model>_invoke to its return)
on the input the anchors used (<anchors>/inputs/<model>.npy), and counts the TFLite Micro
anchor ELFs (<model>.cmsis_nn.elf, <model>.reference.elf) with the same counter in the same run:
from the return of the BEGIN semihosting write to the END write's BKPT (the anchors' region,
checked against their results.json), minus the 9 marker instructions (the anchors' README), so
both sides count the inference function alone. Flash and RAM come from `edgeconv build`'s
report for the same board. Writes FILE (JSON, default benchmarks/results-<board>.json) and the
same table as Markdown beside it (.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeconv.frontend.boards import load_board  # noqa: E402
from edgeconv.frontend.ir import ModelError  # noqa: E402
from edgeconv.lowering.compiler import compile_file  # noqa: E402
from edgeconv.targets.cycles import CycleModel  # noqa: E402
from edgeconv.targets.emulate import build_emulated, count_invoke, count_semihosting_elf  # noqa: E402
from edgeconv.targets.firmware import build_firmware  # noqa: E402

MARKER_INSTRUCTIONS = 9  # anchors' README: 3 before Invoke() and 6 after it inside the region
# their estimated cycles: bx lr 1+P, add 1, bl 1+P; mov 1, ldr 2, bl 1+P, mov 1, movs 1, bkpt 1 (P = 2)
MARKER_CYCLES = 16


@dataclass
class Row:
    model: str
    macs: int
    edgeconv: int
    cmsis_nn: int | None = None  # Invoke() alone
    reference: int | None = None
    cmsis_nn_region: int | None = None  # BEGIN..END, as in results.json
    reference_region: int | None = None
    anchors_agree: bool | None = None
    flash_code: int = 0
    flash_weights: int = 0
    ram_arena: int = 0
    arena_lower_bound: int = 0  # no plan can use less (the largest set of tensors live at once)
    int16_layers: str = ""  # MAC layers whose weights --weights auto stored as int16, of those offering it
    ram_stack: int = 0
    tflm_arena: int | None = None
    edgeconv_cycles: int | None = None  # estimated (edgeconv.targets.cycles), zero-wait-state memory
    cmsis_nn_cycles: int | None = None
    reference_cycles: int | None = None
    per_layer: list[dict] = field(default_factory=list)
    per_kind: dict[str, int] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.edgeconv / self.cmsis_nn if self.cmsis_nn else None


def anchor_count(
    elf: Path, board: str, expected: int | None, cycles: CycleModel | None
) -> tuple[int, int | None, bool | None]:
    c = count_semihosting_elf(elf, board, cycle_model=cycles)
    if c.exit_code != 0x20026 or "END" not in c.text:
        raise ModelError(f"{elf.name} did not run to its end on the counter")
    return c.total, c.cycles, (None if expected is None else c.total == expected)


def measure(
    path: Path, board: str, anchors: Path, results: dict, per_layer: bool, reference: bool, cycles: CycleModel | None
) -> Row:
    model = compile_file(path, board=load_board(board))
    name = path.stem
    inp = anchors / "inputs" / f"{name}.npy"
    if inp.exists():
        sample = [np.load(inp)]
    else:
        from edgeconv.checking.validation import random_inputs

        sample = random_inputs(model, 1, 0)[0]
    fw = build_emulated(model, board)
    try:
        c = count_invoke(fw, sample, cycle_model=cycles)
    finally:
        fw.close()
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-") as tmp:
        rep = build_firmware(path, board, tmp)
    row = Row(
        name,
        model.macs,
        c.total,
        flash_code=rep.flash_code_bytes,
        flash_weights=rep.flash_weights_bytes,
        ram_arena=rep.ram_arena_bytes,
        ram_stack=rep.ram_stack_bytes,
        edgeconv_cycles=c.cycles,
        arena_lower_bound=model.plan.lower_bound,
        int16_layers=f"{sum(f == 'int16' for f in model.weights.chosen.values())}/{len(model.weights.chosen)}",
    )
    if per_layer:
        for i, n in c.per_mark.items():
            op = model.steps[i].op
            row.per_layer.append(
                {
                    "step": i,
                    "op": op.index,
                    "kind": op.opcode,
                    "macs": model.steps[i].kernel.macs,
                    "instructions": n,
                    "cycles": c.cycles_per_mark.get(i),
                }
            )
            row.per_kind[op.opcode] = row.per_kind.get(op.opcode, 0) + n
    expect = results.get("models", {}).get(name)
    agree = []
    for kind in ("cmsis_nn", "reference") if reference else ("cmsis_nn",):
        elf = anchors / f"{name}.{kind}.elf"
        if not elf.exists():
            continue
        want = expect[kind]["instructions"] if expect else None
        total, cyc, ok = anchor_count(elf, board, want, cycles)
        setattr(row, f"{kind}_region", total)
        setattr(row, kind, total - MARKER_INSTRUCTIONS)
        setattr(row, f"{kind}_cycles", None if cyc is None else cyc - MARKER_CYCLES)
        agree.append(ok)
        if kind == "cmsis_nn" and expect:
            row.tflm_arena = expect[kind].get("arena_used_bytes")
    row.anchors_agree = None if not agree or None in agree else all(agree)
    return row


def fmt(n: int | float | None, digits: int = 2) -> str:
    if n is None:
        return "-"
    return f"{n:,}" if isinstance(n, int) else f"{n:.{digits}f}"


HEADERS = [
    "model",
    "MACs",
    "edgeconv instr.",
    "TFLM+CMSIS-NN instr.",
    "edgeconv / CMSIS-NN",
    "MACs/instr. edgeconv",
    "MACs/instr. CMSIS-NN",
    "TFLM reference instr.",
    "est. cycles edgeconv",
    "est. cycles CMSIS-NN",
    "cycles edgeconv / CMSIS-NN",
    "flash code",
    "flash weights",
    "weights int16 (layers)",
    "RAM arena",
    "arena lower bound",
    "RAM stack",
    "TFLM arena",
]


def table_rows(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        out.append(
            [
                r.model,
                fmt(r.macs),
                fmt(r.edgeconv),
                fmt(r.cmsis_nn),
                fmt(r.ratio) + "x" if r.ratio else "-",
                fmt(r.macs / r.edgeconv, 3),
                fmt(r.macs / r.cmsis_nn, 3) if r.cmsis_nn else "-",
                fmt(r.reference),
                fmt(r.edgeconv_cycles),
                fmt(r.cmsis_nn_cycles),
                fmt(r.edgeconv_cycles / r.cmsis_nn_cycles) + "x" if r.edgeconv_cycles and r.cmsis_nn_cycles else "-",
                fmt(r.flash_code),
                fmt(r.flash_weights),
                r.int16_layers or "-",
                fmt(r.ram_arena),
                fmt(r.arena_lower_bound),
                fmt(r.ram_stack),
                fmt(r.tflm_arena),
            ]
        )
    return out


def markdown(rows: list[Row], board: str, command: str, per_layer: bool) -> str:
    lines = [
        f"Board `{board}` (unicorn's CPU model), instructions for one inference, both sides counted by "
        "edgeconv.targets.emulate in the same run: edgeconv from the entry of `<model>_invoke` to its return; TFLite "
        "Micro `MicroInterpreter::Invoke()` alone (the anchors' BEGIN..END region minus its 9 marker "
        "instructions). Executed Thumb instructions. Estimated cycles: each executed instruction costed by "
        "its class from the Cortex-M4 TRM (loads/stores 2, LDRD/STRD 3, LDM/STM/PUSH/POP 1+N, multiplies and "
        "MACs 1, divides 12, taken branches +2 pipeline refill, others 1), zero-wait-state memory, no "
        "caches; an estimate, not a measurement (edgeconv/targets/cycles.py). TFLM's cycles exclude an estimated "
        f"{MARKER_CYCLES} marker cycles. Flash and RAM are edgeconv's (`edgeconv build`, `--weights auto`: "
        "the weights int16 column counts the layers it pre-widened); the arena lower bound is the most "
        "bytes live at any step, which no plan can go below; TFLM arena is the anchors' arena_used_bytes.",
        "",
        f"Command: `{command}`",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|---|" + "---:|" * (len(HEADERS) - 1),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(rows)]
    agree = [r.anchors_agree for r in rows]
    lines += [
        "",
        "Anchor check: the BEGIN..END counts of this run "
        + (
            "equal results.json's `instructions` for every anchor ELF."
            if all(a is True for a in agree)
            else "differ from results.json's for: " + ", ".join(r.model for r in rows if r.anchors_agree is not True)
        ),
    ]
    if per_layer:
        for r in rows:
            lines += [
                "",
                f"### {r.model}: edgeconv per layer kind",
                "",
                "| kind | instructions | share |",
                "|---|---:|---:|",
            ]
            for k, n in sorted(r.per_kind.items(), key=lambda kv: -kv[1]):
                lines.append(f"| {k} | {n:,} | {100 * n / r.edgeconv:.1f}% |")
            lines += [
                "",
                "| step | op | kind | MACs | instructions | MACs/instr. | est. cycles |",
                "|---:|---:|---|---:|---:|---:|---:|",
            ]
            for p in r.per_layer:
                lines.append(
                    f"| {p['step']} | {p['op']} | {p['kind']} | {p['macs']:,} | {p['instructions']:,} | "
                    f"{(p['macs'] / p['instructions']) if p['instructions'] else 0:.3f} | {fmt(p['cycles'])} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="cortex-m4")
    ap.add_argument("--per-layer", action="store_true")
    ap.add_argument("--models", type=Path, default=ROOT.parent / "shared" / "models")
    ap.add_argument("--anchors", type=Path, default=None, help="default: ../shared/anchors/tflm-<board>")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-reference", action="store_true", help="skip TFLM's reference-kernel ELFs (slow to count)")
    ap.add_argument("--no-cycles", action="store_true", help="skip the cycle estimate (cortex-m4 only; needs capstone)")
    args = ap.parse_args(argv)
    anchors = args.anchors or ROOT.parent / "shared" / "anchors" / f"tflm-{args.board}"
    models = sorted(args.models.rglob("*.tflite")) if args.models.is_dir() else []
    if not models:
        print(f"error: no .tflite models under {args.models}", file=sys.stderr)
        return 2
    results = json.loads((anchors / "results.json").read_text()) if (anchors / "results.json").exists() else {}
    out = args.out or ROOT / "benchmarks" / f"results-{args.board}.json"
    command = "python benchmarks/cortex_m.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows = []
    try:
        # the cost table is the Cortex-M4's (the M7 dual-issues, the M33 differs): estimate there only
        cycles = None if args.no_cycles or args.board != "cortex-m4" else CycleModel()
        for path in models:
            print(f"{path.stem} ...", file=sys.stderr, flush=True)
            rows.append(measure(path, args.board, anchors, results, args.per_layer, not args.no_reference, cycles))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "board": args.board,
                "command": command.strip(),
                "marker_instructions": MARKER_INSTRUCTIONS,
                "rows": [asdict(r) | {"ratio": r.ratio} for r in rows],
            },
            indent=1,
        )
        + "\n"
    )
    md = markdown(rows, args.board, command.strip(), args.per_layer)
    out.with_suffix(".md").write_text(md)
    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"instructions per inference, {args.board}")
        for h in HEADERS:
            t.add_column(h, justify="left" if h == "model" else "right")
        for r in table_rows(rows):
            t.add_row(*r)
        Console(width=max(260, Console().width)).print(t)
    except ImportError:
        print(md)
    agree = [r.anchors_agree for r in rows]
    print(
        "anchor counts (BEGIN..END) equal results.json's `instructions`: "
        + (
            "yes, all"
            if all(a is True for a in agree)
            else "NO for " + ", ".join(r.model for r in rows if r.anchors_agree is not True)
        )
    )
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
