"""Generated firmware on emulated cores: bit-exact under QEMU, instructions counted exactly."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED_MODELS
from edgeconv.compiler import compile_bytes, compile_file
from edgeconv.emulate import _thumb_instruction_count, build_emulated, count_instructions
from edgeconv.validation import random_inputs, validate_bytes, validate_file
from modelgen import cached_model

ACCEPTANCE = ["kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]


@pytest.fixture(autouse=True)
def _emulator_tools():
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if missing:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{', '.join(missing)} missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{', '.join(missing)} not installed")


def test_thumb_instruction_lengths():
    # movs r0,#1 (16-bit); bl (32-bit: f000 f800); add.w (32-bit: eb00 0001); bx lr (16-bit)
    code = bytes.fromhex("0120" "00f000f8" "00eb0100" "7047")
    assert _thumb_instruction_count(code) == 4


@pytest.mark.parametrize("board", ["cortex-m4", "cortex-m7"])
@pytest.mark.parametrize("model", ACCEPTANCE)
def test_mlperf_models_bit_exact_on_emulated_core(shared_models, board, model):
    report = validate_file(SHARED_MODELS / "mlcommons_tiny" / f"{model}.tflite", samples=20, seed=2, board=board)
    assert report.bit_exact, report.to_dict()
    assert report.board == board
    assert report.instructions and report.instructions > report.macs  # at least one instruction per MAC
    assert report.flash_bytes > report.ram_bytes or model == "pretrainedResnet_quant"


def test_instruction_counts_are_deterministic_and_per_op(shared_models):
    model = compile_file(SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite")
    fw = build_emulated(model, "cortex-m4")
    try:
        x = random_inputs(model, 1, 0)[0]
        total, per_op = count_instructions(fw, x)
        again, per_op2 = count_instructions(fw, x)
    finally:
        fw.close()
    assert total == again and per_op == per_op2
    assert sorted(per_op) == list(range(len(model.steps)))
    assert sum(per_op.values()) == total
    convs = [n for i, n in per_op.items() if model.steps[i].op.opcode == "CONV_2D"]
    assert all(n > 100_000 for n in convs)


@pytest.mark.parametrize("seed", [1, 3, 12, 19])
def test_random_models_on_emulated_m4(seed):
    """Several op families, multiple inputs or outputs, through the whole firmware path."""
    from test_random_architectures import build_random_cnn

    data = cached_model({"kind": "random-cnn", "seed": seed, "version": 4}, lambda: build_random_cnn(seed))
    report = validate_bytes(data, f"random_cnn_{seed}.tflite", samples=10, seed=seed, board="cortex-m4")
    assert report.bit_exact, report.to_dict()


def test_inspect_board_json(shared_models):
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "inspect",
                           str(SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"), "--board", "cortex-m4", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["board"] == "cortex-m4"
    assert sum(r["instructions"] for r in info["layers"]) == info["instructions"]
    assert all(r["instructions"] == 0 for r in info["layers"] if r["alias"])
