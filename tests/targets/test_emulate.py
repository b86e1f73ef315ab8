"""Generated firmware on emulated cores: bit-exact under QEMU, instructions counted exactly."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED_MODELS, require_tools
from edgeconv.checking.validation import random_inputs, validate_bytes, validate_file
from edgeconv.lowering.compiler import compile_bytes, compile_file
from edgeconv.targets.emulate import build_emulated, count_instructions, count_invoke, thumb_instruction_count
from modelgen import cached_model

ACCEPTANCE = ["kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]


@pytest.fixture(autouse=True)
def _emulator_tools():
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")


def test_thumb_instruction_lengths():
    # movs r0,#1 (16-bit); bl (32-bit: f000 f800); add.w (32-bit: eb00 0001); bx lr (16-bit)
    code = bytes.fromhex("012000f000f800eb01007047")
    assert thumb_instruction_count(code) == 4


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
        seen = count_invoke(fw, x)
        nm = subprocess.run(["arm-none-eabi-nm", str(fw.elf)], capture_output=True, text=True, check=True).stdout
    finally:
        fw.close()
    assert total == again and per_op == per_op2
    assert sorted(per_op) == list(range(len(model.steps)))
    assert sum(per_op.values()) == total
    # only the inference: counting starts at the entry of kws_ref_model_invoke (not in the
    # startup code's .bss zeroing, which also writes the profile variable)
    invoke = next(int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(" kws_ref_model_invoke"))
    assert seen.first_pc == invoke & ~1
    assert (seen.total, seen.per_mark) == (total, per_op)
    convs = [n for i, n in per_op.items() if model.steps[i].op.opcode == "CONV_2D"]
    assert all(n > 100_000 for n in convs)


@pytest.mark.parametrize("seed", [1, 3, 12, 19])
def test_random_models_on_emulated_m4(seed):
    """Several op families, multiple inputs or outputs, through the whole firmware path."""
    from checking.test_random_architectures import build_random_cnn

    data = cached_model({"kind": "random-cnn", "seed": seed, "version": 4}, lambda: build_random_cnn(seed))
    report = validate_bytes(data, f"random_cnn_{seed}.tflite", samples=10, seed=seed, board="cortex-m4")
    assert report.bit_exact, report.to_dict()


# Its CLI run with --board and --json is like test_riscv.py's validate run: each test shows its whole command line, so a
# failure reads without a helper
def test_inspect_board_json(shared_models):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconv.cli",
            "inspect",
            str(SHARED_MODELS / "mlcommons_tiny" / "kws_ref_model.tflite"),
            "--board",
            "cortex-m4",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["board"] == "cortex-m4"
    assert sum(r["instructions"] for r in info["layers"]) == info["instructions"]
    assert all(r["instructions"] == 0 for r in info["layers"] if r["alias"])


def _odd_channels_model() -> bytes:
    """Convolutions and dense layers whose channel counts leave tails of 1-3 after groups of 4."""
    import tensorflow as tf

    from modelgen import seeded_keras, tflite_from_keras

    seeded_keras(5)
    L = tf.keras.layers
    x = tf.keras.Input((9, 7, 3), batch_size=1)
    y = L.Conv2D(5, 3, padding="same", activation="relu")(x)  # in_c 3: a 9-byte row
    y = L.Conv2D(7, (2, 3), padding="valid", activation="relu")(y)  # in_c 5: 15-byte rows
    y = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(y)
    y = L.Conv2D(6, 1)(y)  # in_c 14
    y = L.Flatten()(y)
    y = L.Dense(13, activation="relu")(y)
    y = L.Dense(4)(y)
    return tflite_from_keras(tf.keras.Model(x, y), seed=5)


@pytest.mark.parametrize("board", ["cortex-m4", "cortex-m33"])
def test_dsp_path_equals_portable_path(board):
    data = cached_model({"test": "odd-channels-dsp"}, _odd_channels_model)
    model = compile_bytes(data, "odd")
    samples = random_inputs(model, 12, 4)
    results, counts = {}, {}
    for variant, defines in (("dsp", ()), ("portable", ("-DEC_NO_DSP",))):
        fw = build_emulated(model, board, defines=defines)
        try:
            results[variant] = fw.run(samples)
            counts[variant], _ = count_instructions(fw, samples[0])
        finally:
            fw.close()
    for a, b in zip(results["dsp"], results["portable"]):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert counts["dsp"] < counts["portable"]
    assert validate_bytes(data, "odd.tflite", samples=12, seed=4, board=board).bit_exact


def test_painted_stack_high_water_within_computed_worst_path(shared_models):
    """The startup code paints the stack before main (EC_STACK_PAINT); after the inferences
    under QEMU the firmware reports how deep it was used. The mark never exceeds the worst
    path computed over the call graph, and micro_speech reaches an out-of-line static helper of
    its kernel (its one-channel depthwise runs as a convolution, whose register-blocked loop is
    a static function) that the old estimate (main + invoke + deepest kernel) left out."""
    model = compile_file(SHARED_MODELS / "tflite_micro" / "micro_speech_quantized.tflite")
    fw = build_emulated(model, "cortex-m4")
    try:
        fw.run(random_inputs(model, 2, 0))
        # the helper's frame, as gcc's -fstack-usage wrote it (file:line:col:name<TAB>bytes<TAB>kind)
        su = (fw.work / "ec_conv.su").read_text().splitlines()
        helper_frame = next(
            int(line.split("\t")[1])
            for line in su
            if line.split("\t")[0].rsplit(":", 1)[-1] == fw.stack_worst_path[-1].split(":", 1)[1]
        )
    finally:
        fw.close()
    kernel, helper = fw.stack_worst_path[-2:]
    # (ec_conv2d_s8_w16: the entry point of the int16 weight form that auto chooses on cortex-m4)
    assert kernel == "ec_conv2d_s8_w16" and helper.startswith("ec_conv.c:"), fw.stack_worst_path
    assert fw.stack_measured_bytes is not None
    assert fw.stack_measured_bytes <= fw.stack_worst_path_bytes < fw.stack_need_bytes
    # the painted mark reaches into the helper's frame: the old estimate would have missed it
    assert fw.stack_measured_bytes > fw.stack_worst_path_bytes - helper_frame
