"""Board profiles: the real part's memory map (what `build` links for) apart from the
emulator's (what emulated runs link for); the older single-map form; inconsistent profiles
refused in one line; the part profiles (stm32h743, nrf52840, rp2040, esp32c3) build a model
at their parts' addresses; `inspect --board` reports the fit."""

import json
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

from conftest import SHARED_MODELS, require_tools
from edgeconv.emit.emitter import emit
from edgeconv.frontend.boards import boards_dir, list_boards, load_board
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import compile_file
from edgeconv.targets.firmware import board_fit, build_firmware

MICRO_SPEECH = SHARED_MODELS / "tflite_micro" / "micro_speech_quantized.tflite"
VWW = SHARED_MODELS / "mlcommons_tiny" / "vww_96_int8.tflite"

# The parts' maps, from their reference manuals / datasheets (docs/BOARDS.md gives the sources):
# board -> (part, flash origin, flash bytes, RAM origin, RAM bytes, emulator machine or None).
PARTS = {
    "cortex-m4": ("STM32F446RE", 0x08000000, 512 << 10, 0x20000000, 128 << 10, "mps2-an386"),
    "stm32h743": ("STM32H743ZI", 0x08000000, 2 << 20, 0x24000000, 512 << 10, "mps2-an500"),
    "nrf52840": ("nRF52840", 0x00000000, 1 << 20, 0x20000000, 256 << 10, "mps2-an386"),
    "rp2040": ("RP2040", 0x10000100, (2 << 20) - 256, 0x20000000, 264 << 10, "microbit"),
    "esp32c3": ("ESP32-C3", 0x42000000, 4 << 20, 0x3FC80000, 384 << 10, "virt"),
}


def elf_layout(path) -> tuple[dict[str, int], dict[str, int], int]:
    """Section addresses, symbol values, and the first word of the vector table."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        sections = {s.name: s["sh_addr"] for s in elf.iter_sections() if s["sh_flags"] & 2}  # SHF_ALLOC
        symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
        text = elf.get_section_by_name(".text")
        first_word = int.from_bytes(text.data()[:4], "little")
    return sections, symbols, first_word


def test_part_and_emulator_maps():
    for name, (part, flash, flash_bytes, ram, ram_bytes, machine) in PARTS.items():
        b = load_board(name)
        assert (b.part_name, b.flash_origin, b.flash_bytes, b.ram_origin, b.ram_bytes) == (
            part,
            flash,
            flash_bytes,
            ram,
            ram_bytes,
        ), name
        assert b.memory_source and b.part.startswith(part)
        assert b.qemu_machine == machine and (b.emulator is None) == (machine is None)
    m4 = load_board("cortex-m4")
    emu = m4.for_emulator()  # what emulated runs link for: mps2-an386's SSRAM1 at 0, SSRAM2/3 at 0x20000000
    assert (emu.flash_origin, emu.ram_origin, emu.flash_bytes, emu.ram_bytes, emu.linked_for) == (
        0,
        0x20000000,
        4 << 20,
        4 << 20,
        "emulator",
    )
    assert m4.linked_for == "part"
    with pytest.raises(ModelError, match="host has no \\[emulator\\] section"):
        load_board("host").for_emulator()
    # every in-tree profile loads (the older single-map form included)
    assert all(load_board(b).name == b for b in list_boards())


def test_old_single_map_profile_is_read(tmp_path):
    old = tmp_path / "old-m4.toml"
    old.write_text(
        'name = "old-m4"\nfamily = "cortex-m"\ncc = "arm-none-eabi-gcc"\ncflags = ["-mcpu=cortex-m4"]\n'
        'part = "STM32F446RE (512 KB flash, 128 KB RAM)"\nflash_bytes = 524288\nram_bytes = 131072\n'
        'flash_origin = 0x0\nram_origin = 0x20000000\nqemu_machine = "mps2-an386"\n'
    )
    b = load_board(str(old))
    assert (b.part, b.part_name, b.flash_origin, b.ram_origin, b.flash_bytes) == (
        "STM32F446RE (512 KB flash, 128 KB RAM)",
        "STM32F446RE",
        0,
        0x20000000,
        524288,
    )
    # one map for both: the emulator runs what the profile states
    e = b.emulator
    assert (e.machine, e.qemu, e.flash_origin, e.ram_origin, e.ram_bytes) == (
        "mps2-an386",
        "qemu-system-arm",
        0,
        0x20000000,
        131072,
    )


HEAD = 'name = "bad"\nfamily = "cortex-m"\ncc = "arm-none-eabi-gcc"\n'
PART = '[part]\nname = "X"\nflash_origin = 0x08000000\nflash_bytes = 65536\nram_origin = 0x20000000\nram_bytes = 8192\n'
EMU = (
    '[emulator]\nmachine = "mps2-an386"\nflash_origin = 0\nflash_bytes = 0x400000\n'
    "ram_origin = 0x20000000\nram_bytes = 0x400000\n"
)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            HEAD + "flash_origin = 0\n" + PART,
            r"the memory map is given twice: flash_origin at top level and a \[part\] table",
        ),
        (HEAD + 'qemu_machine = "mps2-an386"\n' + PART + EMU, r"the emulator's machine is given twice"),
        (HEAD + PART.replace("ram_bytes = 8192\n", ""), r"\[part\] lacks ram_bytes"),
        (
            HEAD + PART.replace("ram_origin = 0x20000000", "ram_origin = 0x08008000"),
            r"\[part\] flash \(0x8000000..0x8010000\) and RAM \(0x8008000..0x800a000\) overlap",
        ),
        (HEAD + PART.replace("ram_origin = 0x20000000", "ram_origin = 0xFFFFF000"), r"runs past the end of the 32-bit"),
        (
            HEAD + PART.replace("ram_origin = 0x20000000", "ram_origin = 0x100000000"),
            r"outside the 32-bit address space",
        ),
        (HEAD + PART + EMU.replace("machine", "machne", 1), r"\[emulator\] has no field 'machne'"),
        (HEAD + PART + EMU.replace("ram_bytes = 0x400000", "ram_bytes = 0"), r"\[emulator\] flash_bytes and ram_bytes"),
        (HEAD + PART.replace("flash_bytes = 65536", 'flash_bytes = "64K"'), r"\[part\] flash_bytes must be an integer"),
        (HEAD + "part = 3\n", r"'part' must be a \[part\] table"),
        (
            HEAD + PART + "stack_bytes = 1024\n",
            r"\[part\] has no field 'stack_bytes'",
        ),  # a top-level key after the table
    ],
)
def test_inconsistent_profiles_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ModelError, match=message):
        load_board(str(path))


# Its `edgeconv build` run is like test_build_links_for_the_part's below, with a bad profile: each test shows its whole
# command line, so a failure reads without a helper
# (emit/test_multi_model.py's cc run only shares this command list's shape)
def test_inconsistent_profile_cli_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + PART.replace("ram_origin = 0x20000000", "ram_origin = 0x08008000"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconv.cli",
            "build",
            str(MICRO_SPEECH),
            "--board",
            str(path),
            "-o",
            str(tmp_path / "fw"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "overlap" in proc.stderr
    assert not (tmp_path / "fw").exists()


# Its `edgeconv build --json` run is like targets/test_firmware.py's test_cli_build, but checks the link map: each test
# shows its whole command
def test_build_links_for_the_part(shared_models, tmp_path):
    """`edgeconv build --board cortex-m4` runs on an STM32F446RE: the vector table at 0x08000000,
    its first word (the initial stack pointer) the end of the 128 KB SRAM, .data/.bss in SRAM;
    checked with arm-none-eabi-readelf and nm as well as from the ELF."""
    require_tools("arm-none-eabi-gcc")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconv.cli",
            "build",
            str(MICRO_SPEECH),
            "--board",
            "cortex-m4",
            "-o",
            str(tmp_path / "fw"),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert (r["linked_for"], r["flash_origin"], r["ram_origin"], r["stack_top"]) == (
        "part",
        0x08000000,
        0x20000000,
        0x20020000,
    )
    elf = tmp_path / "fw" / "firmware.elf"
    sections, symbols, first_word = elf_layout(elf)
    assert sections[".text"] == symbols["ec_vectors"] == 0x08000000
    assert first_word == symbols["_estack"] == 0x20020000
    assert sections[".data"] >= 0x20000000 and sections[".bss"] >= 0x20000000
    assert 0x20000000 <= symbols["micro_speech_quantized_arena"] < 0x20020000 - r["ram_stack_bytes"]
    assert symbols["_sstack"] == 0x20020000 - r["ram_stack_bytes"]
    if shutil.which("arm-none-eabi-readelf") and shutil.which("arm-none-eabi-nm"):
        readelf = subprocess.run(["arm-none-eabi-readelf", "-S", str(elf)], capture_output=True, text=True).stdout
        text_line = next(line for line in readelf.splitlines() if " .text " in line)
        assert " 08000000 " in text_line
        nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True).stdout
        assert "08000000 T ec_vectors" in nm and "20020000 B _estack" in nm


def test_emulated_firmware_links_for_the_emulator(shared_models):
    """The emulated ELF of the same board is at mps2-an386's map (code at 0), and runs."""
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    from edgeconv.targets.emulate import build_emulated

    model = compile_file(MICRO_SPEECH)
    fw = build_emulated(model, "cortex-m4")
    try:
        sections, symbols, first_word = elf_layout(fw.elf)
        assert fw.board.linked_for == "emulator" and fw.board.qemu_machine == "mps2-an386"
        assert sections[".text"] == symbols["ec_vectors"] == 0
        assert symbols["_estack"] == first_word < 0x20020000  # the stack right after .bss, as it always was
        assert sections[".bss"] == 0x20000000
    finally:
        fw.close()


@pytest.mark.parametrize("board", ["nrf52840", "rp2040"])
def test_part_profile_emulated_bit_exact(shared_models, board):
    """nrf52840 builds for 0x0/0x20000000 as the part; validate --board runs it on mps2-an386
    (the same Cortex-M4F) at the emulator's map, bit-exact with TFLite Micro. rp2040 (M0+)
    runs on QEMU's micro:bit (a Cortex-M0, the same Armv6-M instructions: 16 KB of RAM), where
    vww is refused in one line."""
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    from edgeconv.checking.validation import validate_file
    from edgeconv.targets.emulate import build_emulated

    report = validate_file(MICRO_SPEECH, samples=2, seed=1, board=board)
    assert report.bit_exact and report.mismatches_vs_oracle == 0 and report.oracle == "tflm"
    assert report.board == board and report.instructions > report.macs
    if board == "rp2040":
        with pytest.raises(ModelError, match=r"does not fit the emulated rp2040 \(microbit\): needs [\d,]+ B of flash"):
            build_emulated(compile_file(VWW, board=load_board(board)), board)


@pytest.mark.parametrize("board", ["stm32h743", "nrf52840", "rp2040", "esp32c3"])
def test_part_profiles_build_at_their_addresses(shared_models, tmp_path, board):
    b = load_board(board)
    require_tools(b.cc)
    r = build_firmware(MICRO_SPEECH, board, tmp_path / "fw")
    _part, flash, flash_bytes, ram, ram_bytes, _machine = PARTS[board]
    sections, symbols, first_word = elf_layout(tmp_path / "fw" / "firmware.elf")
    assert r.flash_origin == sections[".text"] == flash  # the vector table (Cortex-M) or _start (RISC-V)
    assert r.stack_top == symbols["_estack"] == ram + ram_bytes  # the stack's top at the end of RAM
    assert ram <= sections[".bss"] < ram + ram_bytes
    assert r.flash_bytes < flash_bytes and r.ram_bytes < ram_bytes
    if b.family == "cortex-m":
        assert symbols["ec_vectors"] == flash and first_word == ram + ram_bytes
    else:
        assert symbols["_start"] == flash


def test_inspect_board_fit(shared_models, tmp_path):
    """inspect --board: the fit figures beside the part, and instructions even where the
    profile has no emulator (unicorn's Cortex-M0 model runs the part-linked ELF)."""
    require_tools("arm-none-eabi-gcc")
    text = (boards_dir() / "rp2040.toml").read_text()
    no_emulator = tmp_path / "rp2040-alone.toml"
    no_emulator.write_text(text[: text.index("[emulator]")].replace('name = "rp2040"', 'name = "rp2040-alone"'))
    assert load_board(str(no_emulator)).emulator is None
    proc = subprocess.run(
        [sys.executable, "-m", "edgeconv.cli", "inspect", str(MICRO_SPEECH), "--board", str(no_emulator), "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    fit = d["fit"]
    assert fit["fits"] and fit["short"] == [] and fit["part"].startswith("RP2040")
    assert (fit["board_flash_bytes"], fit["board_ram_bytes"]) == ((2 << 20) - 256, 264 << 10)
    assert fit["flash_bytes"] > d["flash_bytes"] and fit["ram_bytes"] > d["ram_bytes"]
    assert d["instructions"] > d["macs"] and sum(r["instructions"] for r in d["layers"]) == d["instructions"]
    # vww on an STM32G071 (cortex-m0plus): figures and shortfalls, no refusal
    compiled = compile_file(VWW, board=load_board("cortex-m0plus"))
    f = board_fit(compiled, emit(compiled), load_board("cortex-m0plus"))
    assert not f.fits and len(f.short) == 2
    assert f.short[0].startswith("flash: needs") and f.short[1].startswith("RAM: needs")
    assert f.flash_bytes > f.board_flash_bytes == 131072 and f.ram_bytes > f.board_ram_bytes == 36864
