"""Running generated firmware on an emulated core.

- QEMU runs the machine of the board profile's [emulator] section (qemu-system-arm's
  mps2-an386 for the M4, ...; qemu-system-riscv32's virt for RV32IMC) with the semihosting
  firmware main: all samples in one run, inputs and outputs through files. The firmware is
  linked for the emulator's memory map, not the part's (boards.Board.for_emulator). This is
  the bit-exactness check.
- unicorn (an instruction-level emulator) runs the same ELF for one sample and counts the
  instructions executed, exactly and deterministically, per op and in total: Thumb on the
  Cortex-M cores, RV32IMC on RISC-V. It answers the semihosting calls itself.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeconv.emit.emitter import emit
from edgeconv.frontend.boards import Board, load_board
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import CompiledModel
from edgeconv.targets.cycles import PIPELINE_REFILL, CycleModel
from edgeconv.targets.firmware import build_in_folder, semihost_main_source
from edgeconv.targets.firmware_common import FirmwareFolder, ToolchainMissing, outputs_from_bytes, sample_bytes

QEMU = "qemu-system-arm"
QEMU_TIMEOUT_S = 600


@dataclass
class EmulatedFirmware(FirmwareFolder):
    board: Board
    model: CompiledModel
    work: Path  # keeps firmware.elf; removed by close()
    flash_bytes: int
    ram_bytes: int
    instructions: int | None = None
    op_instructions: dict[int, int] = field(default_factory=dict)  # step index -> count
    stack_need_bytes: int = 0  # computed worst case over the call graph (see stack.py)
    stack_worst_path: list[str] = field(default_factory=list)
    stack_worst_path_bytes: int = 0  # the frames along stack_worst_path, without interrupt room
    stack_measured_bytes: int | None = None  # the painted high-water mark of the last QEMU run

    def run(self, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """All samples through QEMU; returns each sample's outputs."""
        with open(self.work / "inputs.bin", "wb") as f:
            for sample in samples:
                f.write(sample_bytes(self.model, sample))
        out_path = self.work / "outputs.bin"
        out_path.unlink(missing_ok=True)
        stack_path = self.work / "stack.bin"
        stack_path.unlink(missing_ok=True)
        cmd = qemu_command(self.board, self.elf)
        try:
            proc = subprocess.run(cmd, cwd=self.work, capture_output=True, text=True, timeout=QEMU_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ModelError(f"the emulated {self.board.name} did not finish within {QEMU_TIMEOUT_S} s") from None
        if proc.returncode != 0 or not out_path.exists():
            raise ModelError(
                f"QEMU ({self.board.qemu_machine}) failed: exit {proc.returncode} {proc.stderr.strip()[:200]}".rstrip()
            )
        if stack_path.exists() and len(stack_path.read_bytes()) == 4:
            self.stack_measured_bytes = int.from_bytes(stack_path.read_bytes(), "little")
        return outputs_from_bytes(self.model, out_path.read_bytes(), len(samples), self.board.name)


def qemu_command(board: Board, elf: Path) -> list[str]:
    """QEMU running `elf` on the board's emulator machine with semihosting (files in the
    current folder). RISC-V's virt machine starts the ELF's entry point without firmware."""
    emulator = board.emulator
    if emulator is None:
        raise ModelError(f"board {board.name} has no [emulator] section in its profile")
    cmd = [
        emulator.qemu,
        "-M",
        emulator.machine,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
    ]
    if board.family == "riscv":
        cmd += ["-bios", "none"]
    return cmd + ["-kernel", str(elf)]


def build_emulated(model: CompiledModel, board_name: str, defines: tuple[str, ...] = ()) -> EmulatedFirmware:
    """Firmware for emulated validation, linked for the emulator's memory map (the profile's
    [emulator] section); `defines` (e.g. -DEC_NO_DSP) go to every file."""
    part = load_board(board_name)
    if part.family == "avr":  # simavr, not QEMU: edgeconv/targets/avr.py
        from edgeconv.targets.avr import build_avr_emulated

        return build_avr_emulated(model, board_name, defines)  # type: ignore[return-value]
    if part.family not in ("cortex-m", "riscv") or part.emulator is None:
        raise ModelError(
            f"board {part.name} has no emulator machine ([emulator] in its profile): it builds with "
            f"`edgeconv build`, but is not emulated"
        )
    board = part.for_emulator()
    for tool in (board.cc, board.emulator.qemu):
        if shutil.which(tool) is None:
            raise ToolchainMissing(f"emulating {board.name} needs {tool}, which is not installed (see README: boards)")
    return _semihost_firmware(board, model, defines, check_fit=True)


def build_counted(model: CompiledModel, board_name: str) -> EmulatedFirmware:
    """Firmware whose instructions unicorn can count: the emulated one where the profile has
    an [emulator] that holds it; otherwise (no [emulator], or one too small: vww on the
    micro:bit's 16 KB) the same semihosting firmware linked for the part's map, which unicorn
    runs without QEMU (its run() is refused)."""
    part = load_board(board_name)
    if part.family not in ("cortex-m", "riscv") or not can_count_instructions(part):
        return build_emulated(model, board_name)
    if part.emulator is not None:
        try:
            return build_emulated(model, board_name)
        except EmulatorTooSmall:
            pass
    if shutil.which(part.cc) is None:
        raise ToolchainMissing(f"board {part.name} needs {part.cc}, which is not installed (see README: boards)")
    return _semihost_firmware(part, model, (), check_fit=False)


def _semihost_firmware(
    board: Board, model: CompiledModel, defines: tuple[str, ...], check_fit: bool
) -> EmulatedFirmware:
    """build_emulated's and build_counted's shared tail: the profiling semihosting firmware
    built in a fresh temporary folder (removed again if the build fails); check_fit refuses
    one too large for the emulator's memory."""
    work = Path(tempfile.mkdtemp(prefix=f"edgeconv-{board.name}-"))
    try:
        report = build_in_folder(
            work,
            board,
            model,
            emit(model),
            main_text=semihost_main_source(model),
            defines=("-DEC_PROFILE", "-DEC_STACK_PAINT", *defines),
        )
        if check_fit:
            check_emulator_fit(board, report.flash_bytes, report.ram_bytes, model.name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return EmulatedFirmware(
        board,
        model,
        work,
        report.flash_bytes,
        report.ram_bytes,
        stack_need_bytes=report.stack_need_bytes,
        stack_worst_path=report.stack_worst_path,
        stack_worst_path_bytes=report.stack_worst_path_bytes,
    )


class EmulatorTooSmall(ModelError):
    pass


def check_emulator_fit(board: Board, flash_bytes: int, ram_bytes: int, name: str) -> None:
    """A firmware too large for the emulator's memory is refused in one line (QEMU would
    stop with a fault far from the cause)."""
    e = board.emulator
    if e is not None and (flash_bytes > e.flash_bytes or ram_bytes > e.ram_bytes):
        raise EmulatorTooSmall(
            f"{name} does not fit the emulated {board.name} ({e.machine}): needs {flash_bytes:,} B of "
            f"flash and {ram_bytes:,} B of RAM, the emulator's map has {e.flash_bytes:,} and {e.ram_bytes:,}"
        )


# unicorn's CPU model for each -mcpu (the M0 model runs the M0+'s Armv6-M code), and for RISC-V.
_UNICORN_CPUS = {
    "cortex-m0plus": "UC_CPU_ARM_CORTEX_M0",
    "cortex-m4": "UC_CPU_ARM_CORTEX_M4",
    "cortex-m7": "UC_CPU_ARM_CORTEX_M7",
    "cortex-m33": "UC_CPU_ARM_CORTEX_M33",
}
_UNICORN_RISCV_CPU = "UC_CPU_RISCV32_SIFIVE_E31"  # RV32IMAC: runs RV32IMC code


def _unicorn_cpu(board: Board) -> str | None:
    if board.family == "riscv":
        return _UNICORN_RISCV_CPU if any(f.startswith("-march=rv32") for f in board.cflags) else None
    cpus = [f.split("=", 1)[1].split("+")[0] for f in board.cflags if f.startswith("-mcpu=")]
    return _UNICORN_CPUS.get(cpus[-1]) if cpus else _UNICORN_CPUS.get(board.name)


def can_count_instructions(board: Board) -> bool:
    return _unicorn_cpu(board) is not None


def rv32c_instruction_count(code: bytes) -> int:
    """Instructions in an RV32IMC block: a halfword whose low two bits are 0b11 starts a
    32-bit instruction; any other a 16-bit (compressed) one."""
    n, pos = 0, 0
    while pos + 1 < len(code):
        pos += 4 if code[pos] & 3 == 3 else 2
        n += 1
    return n


# RISC-V semihosting: `slli zero, zero, 0x1f; ebreak; srai zero, zero, 7`, uncompressed.
_RISCV_SEMIHOST = bytes.fromhex("1310f0017300100013507040")


def _riscv_semihosting_traps(code: bytes, origin: int) -> list[int]:
    """The addresses of the EBREAKs of the semihosting sequences in `code` (loaded at `origin`)."""
    found, pos = [], code.find(_RISCV_SEMIHOST)
    while pos >= 0:
        found.append(origin + pos + 4)
        pos = code.find(_RISCV_SEMIHOST, pos + 2)
    return found


def thumb_instruction_count(code: bytes) -> int:
    """Instructions in a Thumb block: a halfword whose top five bits are 0b11101, 0b11110 or
    0b11111 starts a 32-bit instruction; any other starts a 16-bit one."""
    n, pos = 0, 0
    while pos + 1 < len(code):
        hw = code[pos] | (code[pos + 1] << 8)
        pos += 4 if (hw >> 11) in (0b11101, 0b11110, 0b11111) else 2
        n += 1
    return n


@dataclass
class InstructionCount:
    """What the counter saw in its region: the instructions in total and per mark (edgeconv:
    the op index; foreign firmware: one mark, 0), the first counted address, and the text the
    firmware wrote with SYS_WRITE0."""

    total: int
    per_mark: dict[int, int]
    first_pc: int | None
    text: str
    exit_code: int | None
    cycles: int | None = None  # estimated, when a cycle model was given (edgeconv.targets.cycles)
    cycles_per_mark: dict[int, int] = field(default_factory=dict)


@dataclass
class Region:
    """Where counting starts and stops. Either a function (`function`: counting starts at its
    entry and stops when it returns to its caller; stores to `mark_addr` switch the mark), or
    two semihosting SYS_WRITE0 lines (`begin_line`: counting starts with the instruction after
    that BKPT returns; `end_line`: the BKPT of that write is the last counted instruction)."""

    function: int | None = None
    mark_addr: int | None = None
    begin_line: str | None = None
    end_line: str | None = None


SEMIHOST_EXIT_OK = 0x20026
MAX_INSTRUCTIONS = 2_000_000_000


@dataclass(frozen=True)
class _Arch:
    """What the counter needs to know of an instruction set: unicorn's registers, how to count
    a block's instructions, how semihosting traps (Thumb: BKPT 0xAB, 2 bytes; RISC-V: EBREAK
    between two marker instructions, resumed at the marker after it) and where it starts
    (Cortex-M: the reset vector of the table at the lowest loaded address; RISC-V: the ELF's
    entry point)."""

    riscv: bool
    pc: int
    lr: int
    sp: int
    arg0: int
    arg1: int
    count: object  # bytes -> int

    def resume(self, pc: int) -> int:
        return pc + 4 if self.riscv else (pc + 2) | 1


def _unicorn_for(board: Board):
    """A unicorn engine with the board's CPU model, and its _Arch."""
    import unicorn

    cpu = _unicorn_cpu(board)
    if cpu is None:
        raise ModelError(f"no instruction-counting emulator model for {board.name}")
    if board.family == "riscv":
        # Like the Arm setup below, but RV32's registers and its compressed-instruction counter: one _Arch each
        from unicorn import riscv_const as R

        uc = unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV32)
        uc.ctl_set_cpu_model(getattr(R, cpu))
        return uc, _Arch(
            True,
            R.UC_RISCV_REG_PC,
            R.UC_RISCV_REG_RA,
            R.UC_RISCV_REG_SP,
            R.UC_RISCV_REG_A0,
            R.UC_RISCV_REG_A1,
            rv32c_instruction_count,
        )
    # Like the RISC-V setup above, but Thumb's registers and instruction counter: one _Arch each
    from unicorn import arm_const as A

    uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(getattr(A, cpu))
    return uc, _Arch(
        False,
        A.UC_ARM_REG_PC,
        A.UC_ARM_REG_LR,
        A.UC_ARM_REG_SP,
        A.UC_ARM_REG_R0,
        A.UC_ARM_REG_R1,
        thumb_instruction_count,
    )


def count_region(
    elf_path: Path,
    cpu_board: str | Board,
    region: Region,
    input_bytes: bytes = b"",
    extra_ram: tuple[int, int] | None = None,
    cycle_model: CycleModel | None = None,
) -> InstructionCount:
    """Run an ELF on unicorn from its reset (Cortex-M: the vector table at the lowest loaded
    address; RISC-V: the ELF's entry point) and count the executed instructions (Thumb or
    RV32IMC, by `cpu_board`: a board name or profile path) inside `region`. Semihosting:
    SYS_OPEN, SYS_READ (the first opened file reads `input_bytes`), SYS_WRITE, SYS_WRITE0,
    SYS_CLOSE, SYS_EXIT. `extra_ram` (origin, size) is mapped besides the ELF's sections (a
    stack outside them). With `cycle_model` (Cortex-M only), also an estimated cycle count over
    the same region."""
    try:
        import unicorn
    except ImportError:
        raise ToolchainMissing("instruction counts need the unicorn package (pip install unicorn)") from None
    from elftools.elf.elffile import ELFFile

    board = cpu_board if isinstance(cpu_board, Board) else load_board(cpu_board)
    uc, arch = _unicorn_for(board)
    if arch.riscv and cycle_model is not None:
        raise ModelError("the cycle model estimates Cortex-M cycles only")

    page = 0x1000
    mapped: list[tuple[int, int]] = []

    def ensure(lo: int, hi: int) -> None:
        lo, hi = lo // page * page, (hi + page - 1) // page * page
        for a, b in mapped:  # extend around what is mapped already
            if lo < b and a < hi:
                if lo < a:
                    ensure(lo, a)
                if b < hi:
                    ensure(b, hi)
                return
        uc.mem_map(lo, hi - lo)
        mapped.append((lo, hi))

    lowest = None
    traps: list[int] = []
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        entry = elf.header["e_entry"]
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            ensure(seg["p_vaddr"], seg["p_vaddr"] + max(seg["p_memsz"], 1))
            if seg["p_filesz"]:
                ensure(seg["p_paddr"], seg["p_paddr"] + seg["p_filesz"])
                uc.mem_write(seg["p_paddr"], seg.data())
                lowest = seg["p_paddr"] if lowest is None else min(lowest, seg["p_paddr"])
                if arch.riscv and seg["p_flags"] & 1:  # PF_X: where the semihosting calls are
                    traps += _riscv_semihosting_traps(seg.data(), seg["p_paddr"])
        for sec in elf.iter_sections():  # NOLOAD .bss and .stack
            if sec["sh_addr"] and sec["sh_size"]:
                ensure(sec["sh_addr"], sec["sh_addr"] + sec["sh_size"])
        # The vector table starts the lowest loaded section (a segment may start lower, with
        # the ELF header in it, when flash does not start on a page: the RP2040's 0x10000100).
        loaded = [
            sec["sh_addr"]
            for sec in elf.iter_sections()
            if sec["sh_type"] == "SHT_PROGBITS" and sec["sh_flags"] & 2 and sec["sh_size"]
        ]  # SHF_ALLOC
        if loaded and lowest is not None:
            lowest = max(lowest, min(loaded))
    if extra_ram is not None:
        ensure(extra_ram[0], extra_ram[0] + extra_ram[1])
    if not arch.riscv:
        ensure(0xE000E000, 0xE000F000)  # system control space: the startup code enables the FPU there
    if lowest is None:
        raise ModelError(f"{elf_path} has nothing to load")

    files = {1: [input_bytes, 0]}
    text: list[str] = []
    state = {
        "on": False,
        "mark": 0,
        "total": 0,
        "per_mark": {},
        "first_pc": None,
        "return_to": None,
        "exit": None,
        "begin_next": False,
        "cycles": 0,
        "cycles_per_mark": {},
        "prev": None,
    }
    block_sizes: dict[tuple[int, int], int] = {}

    def on_block(uc_, address, size, _):
        if region.function is not None:
            if state["on"]:
                if address == state["return_to"]:
                    state["on"] = False
                    state["return_to"] = None
                    return
            elif address == region.function and state["return_to"] is None:
                state["on"] = True
                state["mark"] = 0
                state["return_to"] = uc_.reg_read(arch.lr) & ~1
        elif state["begin_next"]:
            state["begin_next"] = False
            state["on"] = True
        if not state["on"]:
            return
        if state["first_pc"] is None:
            state["first_pc"] = address
        key = (address, size)
        n = block_sizes.get(key)
        if n is None:
            n = block_sizes[key] = arch.count(bytes(uc_.mem_read(address, size)))
        state["total"] += n
        state["per_mark"][state["mark"]] = state["per_mark"].get(state["mark"], 0) + n
        if cycle_model is not None:
            cost = cycle_model.cache.get(key)
            if cost is None:
                cost = cycle_model.cache[key] = cycle_model.block(bytes(uc_.mem_read(address, size)), address)
            cycles = cost.cycles
            prev = state["prev"]
            if prev is not None and prev[1] and prev[0] != address:  # the previous block's branch was taken
                cycles += PIPELINE_REFILL
            state["prev"] = (address + size, cost.ends_in_branch)
            state["cycles"] += cycles
            state["cycles_per_mark"][state["mark"]] = state["cycles_per_mark"].get(state["mark"], 0) + cycles

    def on_mark(uc_, access, address, size, value, _):
        value = int(np.int32(np.uint32(value & 0xFFFFFFFF)))
        if state["on"] and value >= 0:
            state["mark"] = value

    def read_cstring(addr: int) -> str:
        out = bytearray()
        while len(out) < 4096:
            chunk = bytes(uc.mem_read(addr + len(out), 64))
            end = chunk.find(b"\0")
            if end >= 0:
                out += chunk[:end]
                break
            out += chunk
        return out.decode("latin-1")

    def on_interrupt(uc_, intno, _):
        pc = uc_.reg_read(arch.pc)
        r0, r1 = uc_.reg_read(arch.arg0), uc_.reg_read(arch.arg1)
        result = 0
        if r0 == 0x04:  # SYS_WRITE0
            line = read_cstring(r1)
            text.append(line)
            if region.end_line is not None and state["on"] and line.strip() == region.end_line:
                state["on"] = False
            if region.begin_line is not None and not state["on"] and line.strip() == region.begin_line:
                state["begin_next"] = True
        elif r0 == 0x18:  # SYS_EXIT: r1 is the reason (or, 64-bit style, a pointer to it)
            state["exit"] = r1
            uc_.emu_stop()
            return
        elif r0 in (0x01, 0x06, 0x05, 0x02):
            args = np.frombuffer(bytes(uc_.mem_read(r1, 12)), dtype=np.uint32)
            if r0 == 0x01:  # SYS_OPEN: 1 for inputs.bin, 2 for outputs.bin
                result = 1 if int(args[1]) in (0, 1) else 2
                files.setdefault(result, [b"", 0])
            elif r0 == 0x06:  # SYS_READ
                handle, buf, n = (int(v) for v in args)
                data, pos = files[handle]
                chunk = data[pos : pos + n]
                uc_.mem_write(buf, chunk)
                files[handle][1] = pos + len(chunk)
                result = n - len(chunk)
        else:
            raise_error[0] = f"unsupported semihosting call 0x{r0:x}"
            uc_.emu_stop()
            return
        uc_.reg_write(arch.arg0, result)
        uc_.reg_write(arch.pc, arch.resume(pc))  # past the BKPT or EBREAK

    raise_error: list[str | None] = [None]
    uc.hook_add(unicorn.UC_HOOK_BLOCK, on_block)
    if region.mark_addr is not None:
        uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, on_mark, begin=region.mark_addr, end=region.mark_addr + 3)
    if arch.riscv:
        # unicorn stops at EBREAK as an invalid instruction: a code hook on each semihosting
        # EBREAK answers the call before it executes and resumes after it.
        for addr in traps:
            uc.hook_add(
                unicorn.UC_HOOK_CODE, lambda uc_, address, size, _: on_interrupt(uc_, 3, None), begin=addr, end=addr
            )
    else:
        uc.hook_add(unicorn.UC_HOOK_INTR, on_interrupt)
    if arch.riscv:
        start = entry
    else:
        vectors = np.frombuffer(bytes(uc.mem_read(lowest, 8)), dtype=np.uint32)
        uc.reg_write(arch.sp, int(vectors[0]))
        start = int(vectors[1]) | 1
    try:
        uc.emu_start(start, 0xFFFFFFFF, count=MAX_INSTRUCTIONS)
    except unicorn.UcError as exc:
        raise ModelError(f"the instruction-counting emulator stopped: {exc}") from None
    if raise_error[0]:
        raise ModelError(f"the instruction-counting emulator stopped: {raise_error[0]}")
    if not state["total"]:
        raise ModelError("the instruction-counting emulator saw no inference")
    return InstructionCount(
        state["total"],
        dict(sorted(state["per_mark"].items())),
        state["first_pc"],
        "".join(text),
        state["exit"],
        state["cycles"] if cycle_model is not None else None,
        dict(sorted(state["cycles_per_mark"].items())),
    )


def count_instructions(fw: EmulatedFirmware, sample: list[np.ndarray]) -> tuple[int, dict[int, int]]:
    """Instructions executed by one invoke on `sample`, from the entry of `<name>_invoke` to
    its return: in total and per op (step index). The prologue before the first op's mark
    counts for op 0; per-op counts sum to the total."""
    c = count_invoke(fw, sample)
    return c.total, c.per_mark


def count_invoke(
    fw: EmulatedFirmware, sample: list[np.ndarray], cycle_model: CycleModel | None = None
) -> InstructionCount:
    from elftools.elf.elffile import ELFFile

    if not can_count_instructions(fw.board):  # e.g. the AVR: simavr runs it, but counts nothing
        raise ModelError(f"no instruction-counting emulator models {fw.board.name}: its instructions are not measured")
    with open(fw.elf, "rb") as f:
        symbols = {s.name: s["st_value"] for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols()}
    invoke = symbols.get(f"{fw.model.name}_invoke")
    if invoke is None:
        raise ModelError(f"the firmware has no {fw.model.name}_invoke symbol")
    input_bytes = sample_bytes(fw.model, sample)
    region = Region(function=invoke & ~1, mark_addr=symbols["ec_profile_op"])
    return count_region(fw.elf, fw.board, region, input_bytes, cycle_model=cycle_model)


def count_semihosting_elf(
    elf: Path,
    cpu_board: str,
    ram: tuple[int, int] = (0x20000000, 0x100000),
    begin_line: str = "BEGIN",
    end_line: str = "END",
    cycle_model: CycleModel | None = None,
) -> InstructionCount:
    """A foreign firmware (e.g. the TFLite Micro anchors) that writes `begin_line` and
    `end_line` with SYS_WRITE0 around its inference: instructions from the return of the
    begin write to the end write's BKPT, inclusive (marker overhead included)."""
    return count_region(
        Path(elf), cpu_board, Region(begin_line=begin_line, end_line=end_line), extra_ram=ram, cycle_model=cycle_model
    )
