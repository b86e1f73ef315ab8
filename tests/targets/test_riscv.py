"""RISC-V RV32IMC firmware runs: under qemu-system-riscv32 (virt, semihosting) bit-exact with
TFLite Micro, and instructions counted with unicorn's RV32 model.

By default two shared models run (micro_speech through the CLI, ad01 through the API) with
few samples; EDGECONV_RISCV_ALL_MODELS=1 runs every shared model (about 2 minutes with -n 2:
all seven fit the riscv32 profile and were bit-exact when this was written)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

from conftest import SHARED_MODEL_FILES, SHARED_MODELS
from edgeconv.checking.validation import random_inputs, validate_file
from edgeconv.emit.emitter import emit
from edgeconv.frontend.boards import load_board
from edgeconv.lowering.compiler import compile_file
from edgeconv.targets.emulate import build_emulated, count_invoke, rv32c_instruction_count
from edgeconv.targets.firmware import board_fit

MICRO_SPEECH = SHARED_MODELS / "tflite_micro" / "micro_speech_quantized.tflite"
AD01 = SHARED_MODELS / "mlcommons_tiny" / "ad01_int8.tflite"
ALL = os.environ.get("EDGECONV_RISCV_ALL_MODELS")


@pytest.fixture(autouse=True)
def _riscv_tools():
    missing = [t for t in ("riscv64-unknown-elf-gcc", "qemu-system-riscv32") if shutil.which(t) is None]
    try:
        import unicorn  # noqa: F401
    except ImportError:
        missing.append("unicorn (PyPI)")
    if missing:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{', '.join(missing)} missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{', '.join(missing)} not installed")


def test_rv32c_instruction_lengths():
    # addi a0,a0,1 (32-bit); c.li a0,1 (16-bit); mul a0,a0,a1 (32-bit); c.ret (16-bit)
    code = bytes.fromhex("1305150005453305b5028280")
    assert rv32c_instruction_count(code) == 4


# Its CLI run with --board and --json is like test_emulate.py's inspect run: each test shows its whole command line, so
# a failure reads without a helper
def test_validate_riscv32_cli(shared_models):
    """`edgeconv validate --board riscv32` runs the emulated firmware and compares it: the
    shipped samples and two random ones, bit-exact, with the instruction count."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconv.cli",
            "validate",
            str(MICRO_SPEECH),
            "--board",
            "riscv32",
            "--samples",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["bit_exact"] and r["mismatches_vs_oracle"] == 0 and r["oracle"] == "tflm"
    assert r["board"] == "riscv32" and r["samples"] == 4 and r["elements_compared"] == 4 * 4
    assert r["instructions"] > r["macs"]  # RV32IMC has no SIMD: more than one instruction per MAC
    assert 0 < r["stack_measured_bytes"] <= r["stack_bytes"]
    assert r["notes"] == []


def _check_model(path, samples: int) -> None:
    board = load_board("riscv32")
    compiled = compile_file(path, board=board)
    fit = board_fit(compiled, emit(compiled), board)
    assert fit.fits, fit.short  # every shared model fits the profile (4 MB flash, 384 KB RAM)
    report = validate_file(path, samples=samples, seed=3, board="riscv32")
    assert report.bit_exact and report.mismatches_vs_oracle == 0, report.to_dict()
    assert report.oracle == "tflm" and report.board == "riscv32"
    assert report.instructions and report.instructions > report.macs


def test_ad01_bit_exact_on_rv32imc(shared_models):
    _check_model(AD01, samples=2)


@pytest.mark.skipif(not ALL, reason="every shared model on RV32IMC: set EDGECONV_RISCV_ALL_MODELS=1 (about 2 minutes)")
@pytest.mark.parametrize("rel", SHARED_MODEL_FILES)
def test_every_shared_model_bit_exact_on_rv32imc(shared_models, rel):
    _check_model(SHARED_MODELS / rel, samples=5)


def test_riscv_instruction_counts(shared_models):
    """The emulated ELF is linked at QEMU virt's RAM; unicorn counts one invoke exactly and
    deterministically, per op; the block counter agrees with objdump's instructions."""
    model = compile_file(MICRO_SPEECH, board=load_board("riscv32"))
    fw = build_emulated(model, "riscv32")
    try:
        with open(fw.elf, "rb") as f:
            elf = ELFFile(f)
            assert elf.get_section_by_name(".text")["sh_addr"] == 0x80000000
            assert elf.get_section_by_name(".bss")["sh_addr"] == 0x81000000
            symtab = elf.get_section_by_name(".symtab")
            invoke = next(s for s in symtab.iter_symbols() if s.name == f"{model.name}_invoke")
            text = elf.get_section_by_name(".text")
            start = invoke["st_value"] - text["sh_addr"]
            code = text.data()[start : start + invoke["st_size"]]
        dump = subprocess.run(
            [
                "riscv64-unknown-elf-objdump",
                "-d",
                "--start-address",
                hex(invoke["st_value"]),
                "--stop-address",
                hex(invoke["st_value"] + invoke["st_size"]),
                str(fw.elf),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        listed = [
            line
            for line in dump.splitlines()
            if line.strip() and line.strip()[0] in "0123456789abcdef" and ":\t" in line
        ]
        assert rv32c_instruction_count(code) == len(listed)
        x = random_inputs(model, 1, 0)[0]
        first, again = count_invoke(fw, x), count_invoke(fw, x)
        assert first.total == again.total > model.macs
        assert first.per_mark == again.per_mark and sum(first.per_mark.values()) == first.total
        assert sorted(first.per_mark) == list(range(len(model.steps)))
    finally:
        fw.close()
