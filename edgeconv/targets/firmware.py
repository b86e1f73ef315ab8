"""`edgeconv build`: the generated C plus startup code, a linker script and a minimal main,
cross-compiled for a board profile; flash and RAM read from the ELF.

Flash is split into the runtime code (kernels, startup, the op sequence) and the model's
constants (weights, biases, multipliers, op parameters: every read-only object the emitter
named after the model). RAM is the arena, other .data/.bss, and the stack, whose size is the
worst path over the real call graph from the compiler's own figures (-fstack-usage and
-fcallgraph-info=su, see stack.py) plus room for an interrupt. A board profile that states
`stack_bytes` gets exactly that stack, and a firmware that needs more is refused.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeconv.emit.emitter import SHARED_ARENA_NAME, EmittedModel, emit
from edgeconv.frontend.boards import Board, load_board
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.names import comment_text
from edgeconv.lowering.compiler import CompiledModel
from edgeconv.lowering.modelsource import ModelInput, compile_model, protected_paths
from edgeconv.outputs import FolderWrite, check_writable, publish, read_files
from edgeconv.targets.firmware_common import (
    FirmwareReport,
    ToolchainMissing,
    main_from_template,
    main_source,
    support_dir,
)
from edgeconv.targets.hostbuild import WARNING_FLAGS, run_tool
from edgeconv.targets.stack import analyse, note_outside, outside_calls


def support_files(board: Board) -> list[str]:
    """The startup code of the board's family, from boards/support."""
    if board.family == "avr":  # avr-libc brings its own
        return []
    return ["riscv_startup.S"] if board.family == "riscv" else ["cortex_m_startup.c"]


def linker_script(board: Board, stack_bytes: int) -> str:
    """boards/support/link.ld.in for the map the board is linked for (Board.linked_for): for
    the real part, the stack's top is the end of its RAM (as the part's own startup code
    expects; RAM between .bss and the stack stays free); for an emulator, the stack follows
    .bss (the map the emulated runs and benchmarks have always used)."""
    text = (support_dir() / "link.ld.in").read_text()
    entry = "_start" if board.family == "riscv" else "Reset_Handler"
    if board.linked_for == "part" and board.ram_bytes:
        ram_end = board.ram_origin + board.ram_bytes
        # MAX: a RAM overflow still links (the fit check then says by how much it is short).
        stack_address = f"MAX(ALIGN(8), ({hex(ram_end)} - {stack_bytes}) & ~7) "
        where = f"stack top at the end of RAM ({hex(ram_end)})"
    else:
        stack_address = ""
        where = "the stack right after .bss"
    for key, value in (
        ("@BOARD@", comment_text(board.name)),
        ("@ENTRY@", entry),
        ("@FLASH_ORIGIN@", hex(board.flash_origin)),
        ("@RAM_ORIGIN@", hex(board.ram_origin)),
        ("@STACK_BYTES@", str(stack_bytes)),
        ("@MAP@", comment_text(f"{board.linked_for} map, {where}")),
        ("@STACK_ADDRESS@", stack_address),
    ):
        text = text.replace(key, value)
    return text


def _run(cmd: list[str], what: str, work: Path) -> None:
    """A toolchain command, its temporary files kept in `work` (see hostbuild.run_tool)."""
    proc = run_tool(cmd, work)
    stderr = proc.stderr
    if proc.returncode != 0:
        first = next((line for line in stderr.splitlines() if "error" in line), stderr.strip().splitlines()[:1])
        raise ModelError(f"{what} failed: {first if isinstance(first, str) else ' '.join(first)}")


def _machine_flags(board: Board) -> list[str]:
    """The board's flags without the warning and language ones (for support code and linking)."""
    drop = set(WARNING_FLAGS)
    return [f for f in board.cflags if f not in drop]


BUILD_OUTPUTS = (".c", ".h", ".S", ".ld", ".elf", ".map")
# The buffer a main gives to <name>_init under --arena user (bundle_firmware's several-model
# main): measure_elf counts it as arena.
USER_ARENA_NAME = "ec_user_arena"


# Same parameters as edgeconv.build (__init__.py), the public API that forwards here; kept apart: one layer each
def build_firmware(
    model: ModelInput,
    board_name: str,
    out_dir: str | Path,
    name: str | None = None,
    force: bool = False,
    weights: str = "auto",
) -> FirmwareReport:
    """Cross-compile in a private temporary folder (removed on every path), then publish the
    sources, firmware.elf and firmware.map into out_dir (see outputs.py: the user's files
    there are never touched; `force` overwrites those in the way). `model`: a .tflite path,
    or its bytes (named `name`, "model" by default)."""
    board = load_board(board_name)
    if board.family == "host":
        raise ModelError("edgeconv build targets a microcontroller board; for the host, use compile or validate")
    if shutil.which(board.cc) is None:
        raise ToolchainMissing(f"board {board.name} needs {board.cc}, which is not installed (see README: toolchains)")
    compiled = compile_model(model, name=name, weights=weights, board=board)
    emitted = emit(compiled)
    out_dir = Path(out_dir)
    job = f"build:{compiled.name}"
    expected = [
        *emitted.files,
        "main.c",
        *support_files(board),
        "board_libc.c",
        "link.ld",
        "firmware.elf",
        "firmware.map",
    ]
    check_writable(out_dir, job, expected, force=force, protected=protected_paths(model))  # before the slow part
    with tempfile.TemporaryDirectory(prefix="edgeconv-build-") as tmp:
        work = Path(tmp)
        report = build_in_folder(work, board, compiled, emitted)
        _check_fit(board, report, compiled.name)
        names = sorted(p.name for p in work.iterdir() if p.suffix in BUILD_OUTPUTS)
        publish([FolderWrite(out_dir, job, read_files(work, names))], force=force, protected=protected_paths(model))
    report.files = names
    report.elf = str(out_dir / "firmware.elf")
    report.weights_summary = compiled.weights.summary()
    report.weight_forms = compiled.weights.to_dict(compiled.steps)["weight_forms"]
    return report


def semihost_main_source(compiled: CompiledModel) -> str:
    """The emulated-validation main: samples in and outputs out through semihosting."""
    return main_from_template(compiled, "semihost_main.c.in")


def build_in_folder(
    work: Path,
    board: Board,
    compiled: CompiledModel,
    emitted: EmittedModel,
    main_text: str | None = None,
    defines: tuple[str, ...] = (),
    model_names: tuple[str, ...] = (),
) -> FirmwareReport:
    """Compile and link in `work`; main_text replaces the minimal main, defines (-D...) apply
    to every file. `model_names`: every model in the files when they hold several (a bundle;
    default: `compiled`'s alone), whose arenas and weights the report counts."""
    if board.family == "avr":  # avr-libc's start-up code and linker script: edgeconv/targets/avr.py
        from edgeconv.targets.avr import build_avr_in_folder

        return build_avr_in_folder(work, board, compiled, emitted, main_text, defines)
    name = compiled.name
    for fname, text in emitted.files.items():
        (work / fname).write_text(text)
    (work / "main.c").write_text(main_text if main_text is not None else main_source(name))
    for fname in support_files(board) + ["board_libc.c"]:
        shutil.copy2(support_dir() / fname, work / fname)

    machine = _machine_flags(board) + list(defines)
    stack_flags = ["-fstack-usage", "-fcallgraph-info=su"]  # .su and .ci beside each object
    objects, units = [], []
    from edgeconv.progress import track

    for src in track(sorted(work.glob("*.c")) + sorted(work.glob("*.S")), f"Compiling for {board.name}"):
        obj = work / (src.stem + ".o")
        if src.name == "board_libc.c":
            flags = machine + [
                "-ffreestanding",
                "-fno-builtin",
                "-fno-tree-loop-distribute-patterns",
                "-Wall",
                "-Wextra",
            ]
        elif src.suffix == ".S" or src.name == "cortex_m_startup.c":
            flags = machine + ["-Wall", "-Wextra"]
        else:  # generated model code and c_runtime: the full promise, warnings as errors
            flags = list(board.cflags) + list(defines)
        if src.suffix == ".c":
            flags = flags + stack_flags
        _run(
            [board.cc, *flags, "-I", str(work), "-c", str(src), "-o", str(obj)],
            f"compiling {src.name} for {board.name}",
            work,
        )
        objects.append(obj)
        su, ci = work / (src.stem + ".su"), work / (src.stem + ".ci")
        if su.exists() and ci.exists():
            units.append((su, ci))
    analysis = analyse(units)
    note_outside(analysis, outside_calls(objects))
    stack = board.stack_bytes or analysis.need_bytes
    (work / "link.ld").write_text(linker_script(board, stack))
    elf = work / "firmware.elf"
    link_flags = [f for f in machine if not f.startswith("--specs")]  # headers only; no libc, no crt0
    _run(
        [
            board.cc,
            *link_flags,
            "-nostdlib",
            "-nostartfiles",
            "-T",
            str(work / "link.ld"),
            "-Wl,--gc-sections",
            f"-Wl,-Map={work / 'firmware.map'}",
            "-o",
            str(elf),
            *map(str, objects),
            "-lgcc",
        ],
        f"linking for {board.name}",
        work,
    )
    report = measure_elf(elf, model_names or (name,), board, stack)
    report.stack_need_bytes = analysis.need_bytes
    report.stack_worst_path = analysis.worst_path
    report.stack_worst_path_bytes = analysis.worst_path_bytes
    report.stack_uncertain = analysis.uncertain
    report.stack_margin_bytes = analysis.margin_bytes
    return report


def measure_elf(elf: Path, names: tuple[str, ...], board: Board, stack_bytes: int) -> FirmwareReport:
    """Flash and RAM of a linked ELF by section, with the arenas (each model's <name>_arena,
    the shared ec_shared_arena, a main's ec_user_arena) and the weights (the models' read-only
    <name>_ objects) of the models `names` told apart."""
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        flash = data = bss = 0
        flash_sections: set[int] = set()
        for i, sec in enumerate(e.iter_sections()):
            if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC or sec.name == ".stack":
                continue
            if sec["sh_type"] == "SHT_NOBITS":
                bss += sec["sh_size"]
            elif sec["sh_flags"] & SH_FLAGS.SHF_WRITE:
                data += sec["sh_size"]
                flash += sec["sh_size"]  # its initial values live in flash
            else:
                flash += sec["sh_size"]
                flash_sections.add(i)
        weights = arena = stack_top = 0
        arenas = {f"{n}_arena" for n in names} | {SHARED_ARENA_NAME, USER_ARENA_NAME}
        prefixes = tuple(f"{n}_" for n in names)
        flash_start = min((e.get_section(i)["sh_addr"] for i in flash_sections), default=board.flash_origin)
        symtab = e.get_section_by_name(".symtab")
        for sym in symtab.iter_symbols():
            if sym.name == "_estack":
                stack_top = sym["st_value"]
            if sym["st_info"]["type"] != "STT_OBJECT":
                continue
            if sym.name in arenas:
                arena += sym["st_size"]
                continue
            if sym.name.startswith(prefixes) and sym["st_shndx"] in flash_sections:
                weights += sym["st_size"]
    ram_other = data + bss - arena
    # Like avr.py's measure_avr_elf report, but flash by ALLOC section flags and a computed stack: kept apart, the ELFs
    # differ
    return FirmwareReport(
        board=board.name,
        part=board.part,
        elf=str(elf),
        flash_code_bytes=flash - weights,
        flash_weights_bytes=weights,
        flash_bytes=flash,
        ram_arena_bytes=arena,
        ram_stack_bytes=stack_bytes,
        ram_data_bytes=ram_other,
        ram_bytes=arena + ram_other + stack_bytes,
        board_flash_bytes=board.flash_bytes,
        board_ram_bytes=board.ram_bytes,
        linked_for=board.linked_for,
        flash_origin=flash_start,
        ram_origin=board.ram_origin,
        stack_top=stack_top,
    )


@dataclass
class BoardFit:
    """Whether a model's firmware, built as `edgeconv build` builds it (the part's map, the
    minimal main), fits the board's part: its flash and RAM beside the part's."""

    board: str
    part: str
    flash_bytes: int
    ram_bytes: int
    board_flash_bytes: int
    board_ram_bytes: int
    fits: bool
    short: list[str] = field(default_factory=list)  # what does not fit, and by how much

    def to_dict(self) -> dict:
        return asdict(self)


def board_fit(compiled: CompiledModel, emitted: EmittedModel, board: Board) -> BoardFit:
    """The fit figures `inspect --board` reports: the firmware built in a private temporary
    folder (removed), measured and compared with the part, without refusing it."""
    if shutil.which(board.cc) is None:
        raise ToolchainMissing(f"board {board.name} needs {board.cc}, which is not installed (see README: toolchains)")
    with tempfile.TemporaryDirectory(prefix="edgeconv-fit-") as tmp:
        r = build_in_folder(Path(tmp), board, compiled, emitted)
    short = _shortfalls(board, r)
    return BoardFit(
        board.name, board.part, r.flash_bytes, r.ram_bytes, board.flash_bytes, board.ram_bytes, not short, short
    )


def _check_fit(board: Board, r: FirmwareReport, name: str) -> None:
    short = _shortfalls(board, r)
    if short:
        raise ModelError(f"{name} does not fit {board.name} ({board.part}): " + "; ".join(short))


def _shortfalls(board: Board, r: FirmwareReport) -> list[str]:
    short = []
    if board.flash_bytes and r.flash_bytes > board.flash_bytes:
        short.append(
            f"flash: needs {r.flash_bytes:,} B ({r.flash_weights_bytes:,} weights + {r.flash_code_bytes:,} code), "
            f"has {board.flash_bytes:,} B, {r.flash_bytes - board.flash_bytes:,} B short"
        )
    if board.ram_bytes and r.ram_bytes > board.ram_bytes:
        short.append(
            f"RAM: needs {r.ram_bytes:,} B (arena {r.ram_arena_bytes:,} + stack {r.ram_stack_bytes:,} + "
            f"data {r.ram_data_bytes:,}), has {board.ram_bytes:,} B, {r.ram_bytes - board.ram_bytes:,} B short"
        )
    if board.stack_bytes and r.stack_need_bytes > board.stack_bytes:
        short.append(
            f"stack: needs {r.stack_need_bytes:,} B (worst path {' > '.join(r.stack_worst_path)}: "
            f"{r.stack_worst_path_bytes:,} B, plus interrupt room"
            f"{' and an uncertainty margin' if r.stack_margin_bytes else ''}), has {board.stack_bytes:,} B, "
            f"{r.stack_need_bytes - board.stack_bytes:,} B short"
        )
    return short
