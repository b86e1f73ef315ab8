"""The 8-bit AVR family: firmware where C's int is 16 bits, built with avr-gcc and run on simavr.

- Build: every generated and runtime file with the profile's flags (-std=c99 -Wall -Wextra
  -Werror -pedantic), linked with avr-libc's own start-up code and linker script (the vector
  table; .data copied from flash into SRAM at reset, .bss cleared) and libm for the float
  edges. On this Harvard core avr-gcc keeps plain const arrays in .data (flash for their
  initial values, and SRAM); ec_common.h keeps the arrays the kernels read through its
  accessors (weights, biases, requantization pairs: EC_FLASH_ARRAY) in flash only, so the SRAM
  holds the arena, the params structs, the few other constants and the stack. Where the
  model's flash arrays (with the baked samples) fit the 64 KB that 16-bit pointers reach, the
  build defines EC_NEAR_CONSTANTS (pgm_read_*, cheaper); otherwise the references are 32-bit
  flash addresses (pgm_read_*_far) and the arrays follow the code, anywhere in flash.
  avr-gcc 5.4 has no -fcallgraph-info, so the stack is not computed: the profile's
  `stack_bytes` is reserved, and emulated runs measure the painted high-water mark.
- Emulated run: simavr (Debian simavr) runs the profile's `simavr_mcu` at `cpu_hz`. The
  samples are baked into flash (a PROGMEM array linked into the firmware for each run, at
  most SAMPLE_BATCH_BYTES a run); boards/support/avr_main.c.in writes each sample's outputs
  in hex on USART0, which simavr prints on its stderr, and ends simavr by sleeping with
  interrupts off.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeconv.emit.emitter import EmittedModel, emit
from edgeconv.frontend.boards import Board, load_board
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import CompiledModel
from edgeconv.targets.firmware_common import (
    FirmwareFolder,
    FirmwareReport,
    ToolchainMissing,
    main_from_template,
    main_source,
    outputs_from_bytes,
    sample_bytes,
)
from edgeconv.targets.hostbuild import WARNING_FLAGS, run_tool

SIMAVR = "simavr"
SIMAVR_TIMEOUT_S = 600
SAMPLE_BATCH_BYTES = 16384  # samples per simavr run: far below the 64 KB pgm_read_byte reaches
RAM_DEFINE = "-DEC_CONSTANTS_IN_RAM"  # ec_common.h's opt-out: constants in RAM (.data)
NEAR_DEFINE = "-DEC_NEAR_CONSTANTS"  # ec_common.h: 16-bit references (the first 64 KB of flash)
NEAR_RESERVE_BYTES = 2048  # below 64 KB beside the model's arrays and samples: vectors, avr-libc's data
NEAR_FLASH_BYTES = 0x10000  # what pgm_read_byte's 16-bit address reaches
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
STACK_NOT_ANALYSED = (
    "avr-gcc 5.4 has no -fcallgraph-info, so no call graph is analysed: the profile's stack_bytes is "
    "reserved, and emulated runs measure the painted high-water mark"
)


def _run(cmd: list[str], what: str, work: Path) -> None:
    proc = run_tool(cmd, work)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        first = next((line for line in lines if "error" in line), lines[0] if lines else f"exit {proc.returncode}")
        raise ModelError(f"{what} failed: {first}")


def _machine_flags(board: Board) -> list[str]:
    return [f for f in board.cflags if f not in set(WARNING_FLAGS)]


def weights_in_progmem(board: Board) -> bool:
    """Whether the build keeps the constants the kernels read by accessor in program memory:
    ec_common.h's default on an AVR, unless the profile opts out (EC_CONSTANTS_IN_RAM)."""
    return board.family == "avr" and RAM_DEFINE not in board.cflags


def reference_defines(board: Board, emitted: EmittedModel, near_bytes: int = 0) -> tuple[str, ...]:
    """EC_NEAR_CONSTANTS where the model's program-memory arrays, `near_bytes` of other
    near data (the baked samples) and the vectors fit the 64 KB 16-bit pointers reach; none
    otherwise (ec_common.h then uses 32-bit flash addresses on a part with more flash)."""
    if not weights_in_progmem(board):
        return ()
    fits = emitted.program_memory_bytes + near_bytes + NEAR_RESERVE_BYTES <= NEAR_FLASH_BYTES
    return (NEAR_DEFINE,) if fits else ()


def sram_shortfall(board: Board, name: str, arena_bytes: int, data_bytes: int) -> str | None:
    """The one-line refusal of a model whose arena and .data/.bss (its constants in SRAM
    among them) exceed the SRAM, or None."""
    total = arena_bytes + data_bytes
    if not board.ram_bytes or total <= board.ram_bytes:
        return None
    held = (
        "the params structs and the constants the kernels read directly (tables; the weights, biases and "
        "requantization pairs are in flash)"
        if weights_in_progmem(board)
        else "the constants as well (avr-gcc copies const arrays into .data)"
    )
    return (
        f"{name} does not fit {board.name} ({board.part}): its SRAM holds {held}: "
        f"arena {arena_bytes:,} B + data {data_bytes:,} B = {total:,} B, has "
        f"{board.ram_bytes:,} B"
        + (
            f"; the constants alone exceed its {board.flash_bytes:,} B of flash"
            if board.flash_bytes and data_bytes > board.flash_bytes
            else ""
        )
    )


# Same parameters as build_avr_in_folder below, which calls this and then links: the one compiles, the other builds the
# ELF
def compile_avr_objects(
    work: Path,
    board: Board,
    compiled: CompiledModel,
    emitted: EmittedModel,
    main_text: str | None = None,
    defines: tuple[str, ...] = (),
    near_bytes: int = 0,
) -> list[Path]:
    """The model, its runtime files and main.c compiled in `work`; the object files. A model
    whose arena and constants alone exceed the SRAM is refused first (avr-gcc would stop at
    the first array over 32,767 bytes, its object size limit, without saying why). Near or far
    references: reference_defines (`near_bytes`: the samples that will be linked in)."""
    refs = reference_defines(board, emitted, near_bytes)
    in_sram = emitted.flash_const_bytes - (emitted.program_memory_bytes if weights_in_progmem(board) else 0)
    short = sram_shortfall(board, compiled.name, compiled.ram_bytes, in_sram)
    if short:
        raise ModelError(short)
    for fname, text in emitted.files.items():
        (work / fname).write_text(text)
    (work / "main.c").write_text(main_text if main_text is not None else main_source(compiled.name))
    objects = []
    for src in sorted(work.glob("*.c")):
        obj = work / (src.stem + ".o")
        _run(
            [
                board.cc,
                *board.cflags,
                *refs,
                *defines,
                "-fstack-usage",
                "-I",
                str(work),
                "-c",
                str(src),
                "-o",
                str(obj),
            ],
            f"compiling {src.name} for {board.name}",
            work,
        )
        objects.append(obj)
    return objects


def link_avr(work: Path, board: Board, objects: list[Path], elf: Path) -> None:
    """avr-libc's crt and linker script, unused sections dropped, libm for the float edges.
    An SRAM overflow still writes the ELF (--noinhibit-exec): the fit check then says by how
    much the model is short, which the linker's own message does not."""
    elf.unlink(missing_ok=True)
    proc = run_tool(
        [
            board.cc,
            *_machine_flags(board),
            "-Wl,--gc-sections",
            "-Wl,--noinhibit-exec",
            f"-Wl,-Map={elf.with_suffix('.map')}",
            "-o",
            str(elf),
            *map(str, objects),
            "-lm",
        ],
        work,
    )
    lines = [line for line in proc.stderr.strip().splitlines() if line and "collect2" not in line]
    if proc.returncode != 0 and not (elf.exists() and all("is not within region" in line for line in lines)):
        first = next((line for line in lines if "error" in line or "undefined" in line), lines[0] if lines else "")
        raise ModelError(f"linking for {board.name} failed: {first or f'exit {proc.returncode}'}")


# Same parameters as compile_avr_objects above, which it calls before linking: the one compiles, the other builds the
# ELF
def build_avr_in_folder(
    work: Path,
    board: Board,
    compiled: CompiledModel,
    emitted: EmittedModel,
    main_text: str | None = None,
    defines: tuple[str, ...] = (),
) -> FirmwareReport:
    """firmware.build_in_folder for the avr family: firmware.elf and firmware.map in `work`."""
    objects = compile_avr_objects(work, board, compiled, emitted, main_text, defines)
    elf = work / "firmware.elf"
    link_avr(work, board, objects, elf)
    check_near_flash(elf, compiled.name, board, far=not reference_defines(board, emitted))
    return measure_avr_elf(elf, compiled.name, board)


def check_near_flash(elf: Path, name: str, board: Board, far: bool = False) -> None:
    """Refuse (one line) firmware whose near program-memory arrays (read with pgm_read_byte: the
    baked samples, and the model's arrays unless `far`) end beyond the 64 KB a 16-bit pointer
    reaches: they are the data objects the linker placed in .text (avr-libc's script puts
    .progmem* right after the vectors). With `far`, the model's arrays (EC_FLASH_ARRAY,
    .text.ec_far) may lie anywhere. Either way the parts of a split array (<array>_p1, ...)
    must follow each other without a gap, as the kernels read them as one range."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        text = next((i for i, s in enumerate(e.iter_sections()) if s.name == ".text"), None)
        objects = {
            sym.name: (sym["st_value"], sym["st_size"])
            for sym in e.get_section_by_name(".symtab").iter_symbols()
            if sym["st_info"]["type"] == "STT_OBJECT" and sym["st_shndx"] == text
        }
    near = {n: v for n, v in objects.items() if not (far and n.startswith(f"{name}_"))}
    end = max((a + size for a, size in near.values()), default=0)
    if end > NEAR_FLASH_BYTES:
        raise ModelError(
            f"{name} does not fit {board.name} ({board.part}): its arrays in program memory end at "
            f"{end:,} B, beyond the {NEAR_FLASH_BYTES:,} B that 16-bit pointers (pgm_read_byte) reach"
        )
    for part, (addr, _) in objects.items():
        m = re.fullmatch(r"(.+)_p(\d+)", part)
        if not m:
            continue
        k = int(m.group(2))
        prev = objects.get(m.group(1) if k == 1 else f"{m.group(1)}_p{k - 1}")
        if prev is None or prev[0] + prev[1] != addr:
            raise ModelError(
                f"linking {name} for {board.name} did not place the parts of {m.group(1)} one after "
                f"another in flash (part {k} at {addr:#x}); the kernels read them as one array"
            )


def measure_avr_elf(elf: Path, name: str, board: Board) -> FirmwareReport:
    """Flash: .text (code, vectors, PROGMEM data) and .data's initial values. SRAM: .data,
    .bss and .noinit, plus the reserved stack. The model's weights: its named objects other
    than the arena, wherever they are (in .data, as avr-gcc places const arrays)."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        sizes = {s.name: s["sh_size"] for s in e.iter_sections()}
        weights = arena = 0
        stack_top = board.ram_origin + board.ram_bytes - 1  # RAMEND, where avr-libc starts SP
        for sym in e.get_section_by_name(".symtab").iter_symbols():
            if sym.name == "__stack":  # a data-space address, without the ELF's 0x800000 offset for SRAM
                stack_top = sym["st_value"] | (board.ram_origin & 0xFF0000)
            if sym["st_info"]["type"] != "STT_OBJECT" or not sym.name.startswith(f"{name}_"):
                continue
            if sym.name == f"{name}_arena":
                arena = sym["st_size"]
            else:
                weights += sym["st_size"]
    data = sizes.get(".data", 0)
    ram_other = data + sizes.get(".bss", 0) + sizes.get(".noinit", 0) - arena
    flash = sizes.get(".text", 0) + data
    stack = board.stack_bytes
    # Like firmware.py's measure_elf report, but AVR's sizes by section name and a fixed stack budget: kept apart, the
    # ELFs differ
    return FirmwareReport(
        board=board.name,
        part=board.part,
        elf=str(elf),
        flash_code_bytes=flash - weights,
        flash_weights_bytes=weights,
        flash_bytes=flash,
        ram_arena_bytes=arena,
        ram_stack_bytes=stack,
        ram_data_bytes=ram_other,
        ram_bytes=arena + ram_other + stack,
        board_flash_bytes=board.flash_bytes,
        board_ram_bytes=board.ram_bytes,
        stack_need_bytes=stack,
        stack_margin_bytes=stack,
        stack_uncertain=[STACK_NOT_ANALYSED],
        linked_for="part",
        flash_origin=board.flash_origin,
        ram_origin=board.ram_origin,
        stack_top=stack_top,
    )


def samples_source(model: CompiledModel, samples: list[list[np.ndarray]]) -> str:
    """ec_samples.c: the samples' input bytes in program memory, for avr_main.c.in."""
    data = b"".join(sample_bytes(model, sample) for sample in samples)
    rows = [", ".join(str(b) for b in data[i : i + 24]) for i in range(0, len(data), 24)] or ["0"]
    return (
        "/* edgeconv: the samples of one emulated run, in flash. */\n#include <avr/pgmspace.h>\n#include <stdint.h>\n\n"
        f"extern const uint8_t ec_samples[];\nextern const uint16_t ec_sample_count;\n"
        f"const uint16_t ec_sample_count = {len(samples)}u;\n"
        "const uint8_t ec_samples[] PROGMEM = {\n    " + ",\n    ".join(rows) + "\n};\n"
    )


@dataclass
class AvrEmulatedFirmware(FirmwareFolder):
    """emulate.EmulatedFirmware's counterpart for simavr: the model's objects are compiled once;
    each run links them with that run's samples."""

    board: Board
    model: CompiledModel
    work: Path
    objects: list[Path]
    flash_bytes: int
    ram_bytes: int
    instructions: int | None = None
    op_instructions: dict[int, int] = field(default_factory=dict)
    stack_need_bytes: int = 0  # the profile's reserved stack (not computed on AVR: see the module doc)
    stack_worst_path: list[str] = field(default_factory=list)
    stack_worst_path_bytes: int = 0
    stack_measured_bytes: int | None = None  # the painted high-water mark of the last run
    static_ram_bytes: int = 0  # .data and .bss: the arena, the constants, the rest
    free_ram_bytes: int = 0  # SRAM left for the stack after .data and .bss
    far: bool = False  # 32-bit flash references (the model's arrays beyond 16-bit pointers' reach)

    def run(self, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """Every sample through simavr, in batches of at most SAMPLE_BATCH_BYTES of inputs."""
        g = self.model.graph
        per_sample = max(1, sum(g.tensors[t].nbytes for t in g.inputs))
        step = max(1, SAMPLE_BATCH_BYTES // per_sample)
        outs: list[list[np.ndarray]] = []
        for i in range(0, len(samples), step):
            outs.extend(self._run_batch(samples[i : i + step]))
        return outs

    def _run_batch(self, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        src = self.work / "ec_samples.c"
        src.write_text(samples_source(self.model, samples))
        obj = self.work / "ec_samples.o"
        _run(
            [self.board.cc, *_machine_flags(self.board), "-c", str(src), "-o", str(obj)],
            "compiling the samples",
            self.work,
        )
        link_avr(self.work, self.board, [*self.objects, obj], self.elf)
        check_near_flash(self.elf, self.model.name, self.board, self.far)  # the samples are in program memory too
        text = run_simavr(self.board, self.elf, self.work)
        lines = [line.rstrip(".").strip() for line in _ANSI.sub("", text).splitlines()]
        if "#E" not in lines:
            tail = " | ".join(line for line in lines if line)[-200:]
            raise ModelError(f"the emulated {self.board.name} (simavr) did not finish its samples: {tail}")
        stack = [line for line in lines if line.startswith("#S")]
        if stack:
            self.stack_measured_bytes = int(stack[-1][2:], 16)
            self.ram_bytes = self.static_ram_bytes + self.stack_measured_bytes
            if self.stack_measured_bytes >= self.free_ram_bytes:
                raise ModelError(
                    f"{self.model.name} overflowed the stack of the emulated {self.board.name}: it reached "
                    f"{self.stack_measured_bytes:,} B, the SRAM left after .data and .bss is "
                    f"{self.free_ram_bytes:,} B"
                )
        data = bytes.fromhex("".join(line[2:] for line in lines if line.startswith("#O")))
        return outputs_from_bytes(self.model, data, len(samples), self.board.name)


def run_simavr(board: Board, elf: Path, work: Path) -> str:
    """simavr on the ELF; what the firmware wrote on USART0 (simavr prints it on stderr)."""
    mcu = str(board.extra.get("simavr_mcu", ""))
    cmd = [SIMAVR, "-m", mcu, "-f", str(int(board.extra.get("cpu_hz", 16000000))), str(elf)]
    try:
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, errors="replace", timeout=SIMAVR_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ModelError(f"the emulated {board.name} (simavr) did not finish within {SIMAVR_TIMEOUT_S} s") from None
    return proc.stderr + proc.stdout


def build_avr_emulated(model: CompiledModel, board_name: str, defines: tuple[str, ...] = ()) -> AvrEmulatedFirmware:
    """Firmware for emulated validation on simavr (the profile's simavr_mcu)."""
    board = load_board(board_name)
    if not board.extra.get("simavr_mcu"):
        raise ModelError(f"board {board.name} names no simavr_mcu in its profile: it builds, but is not emulated")
    for tool in (board.cc, SIMAVR):
        if shutil.which(tool) is None:
            raise ToolchainMissing(f"emulating {board.name} needs {tool}, which is not installed (see docs/avr.md)")
    work = Path(tempfile.mkdtemp(prefix=f"edgeconv-{board.name}-"))
    try:
        main = main_from_template(model, "avr_main.c.in")
        emitted = emit(model)
        far = not reference_defines(board, emitted, SAMPLE_BATCH_BYTES)
        objects = compile_avr_objects(work, board, model, emitted, main, defines, SAMPLE_BATCH_BYTES)
        empty = work / "ec_samples.c"
        empty.write_text(samples_source(model, []))
        _run(
            [board.cc, *_machine_flags(board), "-c", str(empty), "-o", str(work / "ec_samples.o")],
            "compiling the samples",
            work,
        )
        link_avr(work, board, [*objects, work / "ec_samples.o"], work / "firmware.elf")  # for the sizes
        check_near_flash(work / "firmware.elf", model.name, board, far)
        report = measure_avr_elf(work / "firmware.elf", model.name, board)
        static_ram = report.ram_arena_bytes + report.ram_data_bytes
        fw = AvrEmulatedFirmware(
            board,
            model,
            work,
            objects,
            report.flash_bytes,
            static_ram,
            static_ram_bytes=static_ram,
            free_ram_bytes=board.ram_bytes - static_ram,
            stack_need_bytes=board.stack_bytes,
            far=far,
        )
        short = sram_shortfall(board, model.name, report.ram_arena_bytes, report.ram_data_bytes)
        if short:
            raise ModelError(short)
        if board.flash_bytes and report.flash_bytes > board.flash_bytes:
            raise ModelError(
                f"{model.name} does not fit {board.name} ({board.part}): its firmware needs "
                f"{report.flash_bytes:,} B of flash (constants {emitted.flash_const_bytes:,} B), has "
                f"{board.flash_bytes:,} B"
            )
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return fw
