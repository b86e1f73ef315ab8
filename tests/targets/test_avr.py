"""The C where int is 16 bits: an 8-bit AVR (ATmega2560, avr-gcc, simavr).

- The whole runtime compiles for the ATmega2560 with -std=c99 -Wall -Wextra -Werror -pedantic.
- One-op models of the hostile suite's bases (int8 kernels of every family), packed int16
  activations, and the digits demo model as `edgeconv demo` trains it (zoo tinyconv on digits,
  width 2.0: 97 KB of int8 weights, one array of 36 KB; fewer epochs) run on simavr bit-exact
  with TFLite Micro, through `validate --board atmega2560`.
- The constants the kernels read (weights, biases, requantization pairs) stay in flash with no
  flag (ec_common.h's AVR default): micro_speech (17 KB of weights, a 6.4 KB arena) and
  str_ww_ref_model (57 KB of constants, a 6.7 KB arena) run bit-exact, their SRAM holding the
  arena and the params structs. Arrays over avr-gcc's 32,767-byte object limit (in parts) and
  constants beyond the 64 KB 16-bit pointers reach (32-bit far addresses) are read right.
- A model whose arena exceeds the SRAM, or whose constants exceed the flash, is refused in one
  line; `edgeconv build --board atmega2560` reports flash and RAM.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import mutants
from conftest import require_tools
from edgeconv.checking.references import TflmReference
from edgeconv.checking.validation import random_inputs, validate_bytes, validate_file
from edgeconv.emit.emitter import emit, runtime_dir
from edgeconv.frontend.boards import load_board
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import compile_bytes, compile_file
from edgeconv.outputs import write_atomically
from edgeconv.targets.avr import NEAR_DEFINE, SAMPLE_BATCH_BYTES, reference_defines
from edgeconv.targets.emulate import build_emulated
from edgeconv.targets.hostbuild import cache_root

BOARD = "atmega2560"


@pytest.fixture(autouse=True)
def _need_avr_tools():
    require_tools("avr-gcc", "simavr", hint=" (Debian gcc-avr, avr-libc, simavr)")


def test_runtime_compiles_for_avr(tmp_path):
    """Every runtime file, as a firmware compiles it: warnings are errors, int is 16 bits; with
    the constants in flash through far references (the default on the ATmega2560), near ones
    (EC_NEAR_CONSTANTS) and in RAM (EC_CONSTANTS_IN_RAM)."""
    board = load_board(BOARD)
    sources = sorted(str(p) for p in runtime_dir().glob("*.c"))
    assert len(sources) > 30
    for mode in ([], ["-DEC_NEAR_CONSTANTS"], ["-DEC_CONSTANTS_IN_RAM"]):
        work = tmp_path / (mode[0][2:] if mode else "far")
        work.mkdir()
        proc = subprocess.run(
            [board.cc, *board.cflags, *mode, "-I", str(runtime_dir()), "-c", *sources],
            cwd=work,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, (mode, proc.stderr[-3000:])
        assert len(list(work.glob("*.o"))) == len(sources)


# int8 kernels of every family (the hostile suite's one-op bases); each fits the SRAM.
BASES = [
    "conv",
    "conv_dilated",
    "depthwise",
    "fully_connected",
    "avg_pool",
    "softmax",
    "mean",
    "add",
    "mul",
    "pad",
    "transpose",
    "resize_bilinear",
    "leaky_relu",
    "logistic",
    "hard_swish",
    "prelu",
    "quantize",
    "dequantize",
    "transpose_conv",
    "batch_matmul",
]


def test_one_op_bases_bit_exact():
    """Each base as firmware on simavr: every output element equals TFLite Micro's."""
    failures = []
    for name in BASES:
        data = mutants.base_bytes(name)
        model = compile_bytes(data, name, board=load_board(BOARD))
        samples = random_inputs(model, 4, 11)
        fw = build_emulated(model, BOARD)
        try:
            outs = fw.run(samples)
            assert fw.stack_measured_bytes is not None and 0 < fw.stack_measured_bytes < fw.free_ram_bytes
        finally:
            fw.close()
        with TflmReference(data) as ref:
            for ours, sample in zip(outs, samples):
                for a, b in zip(ours, ref.run(sample, len(model.graph.outputs))):
                    if not np.array_equal(a.reshape(-1), np.asarray(b).reshape(-1)):
                        failures.append(name)
    assert not failures, f"differ from TFLite Micro on the AVR: {sorted(set(failures))}"


def test_int16_activations_bit_exact():
    """int16 LOGISTIC, TANH, SOFTMAX and the RELU family (the int16 kernels' fixed-point
    helpers: Q15 products, rounding shifts, sigmoid-table interpolation) through
    `validate --board atmega2560`."""
    import lowering.test_int16_activations as t16

    cases = []
    for c in t16._lut_cases(1600)[:6] + t16._softmax_cases(1700)[:4] + t16._relu_family_cases(1800)[:4]:
        c = dict(c)
        if int(np.prod(c["shape"])) > 64:
            c["shape"] = (1, 64)
        cases.append(c)
    report = validate_bytes(
        t16._packed(cases),
        "int16_avr",
        samples=1,
        seed=0,
        board=BOARD,
        extra_inputs=t16._samples(cases, np.random.default_rng(30)),
    )
    assert report.board == BOARD and report.samples >= 2
    assert report.bit_exact, (
        f"{report.mismatches_vs_tflm} elements differ; first divergent op {report.first_divergent_op}"
    )


def test_int16_elementwise_and_mac_bit_exact():
    """int16 ADD/SUB/MUL/comparisons and pooling (random broadcasts and zero points), and 16x8
    CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED branches at their extremes (int32 sums that
    wrap as TFLite Micro's do, int64 sums of heavy taps, edge biases) on inputs at -32768 and
    32767: the int16 products and int64 accumulators where int is 16 bits."""
    import lowering.test_int16_elementwise as e16
    import lowering.test_int16_mac as m16

    models = {"binary16": e16.binary_model(100, True), "pool16": e16.pool_model(200)}
    branches, seed = m16.MODELS["fixed"]
    for i in (3, 4, 5, 8, 11, 15):  # conv, depthwise and fc branches that fit the SRAM
        models[f"mac16_{i}"] = m16.branches_model(m16._branch, [branches[i]], seed + i)
    for label, data in models.items():
        extra = m16._extreme_inputs(compile_bytes(data, label)) if label.startswith("mac16") else None
        report = validate_bytes(data, label, samples=3, seed=1, board=BOARD, extra_inputs=extra)
        assert report.oracle == "tflm" and report.bit_exact, (
            label,
            report.mismatches_vs_tflm,
            report.first_divergent_op,
        )


def test_math_and_div_bit_exact():
    """The table-driven and fixed-point math kernels (ABS, RSQRT, ELU, LOG_SOFTMAX,
    L2_NORMALIZATION against TFLite Micro; EXP, GELU, LOG against TFLite's reference, which
    alone runs them) and DIV (runtime, broadcast and constant divisors), at SRAM-sized shapes."""
    import dataclasses

    import lowering.test_ops_div as div
    import lowering.test_ops_math as math_ops
    from modelgen import oracle_is

    def small(c):
        n = 96
        return dataclasses.replace(c, shape=(1, n), data=c.data.reshape(-1)[:n].reshape(1, n)) if c.data.size > n else c

    rng = np.random.default_rng(77)
    micro = math_ops._mixed_model(
        [
            (o, small(c))
            for o, c in [
                ("ABS", math_ops.abs_case(rng, "int8")),
                ("ABS", math_ops.abs_case(rng, "int16")),
                ("RSQRT", math_ops.Case((2, 40), "int8", (0.02, -128), (0.05, -100), np.zeros((2, 40), np.int8))),
                ("ELU", math_ops.elu_case(rng, "int8")),
                ("LOG_SOFTMAX", math_ops.log_softmax_case(rng, "int8")),
                ("L2_NORMALIZATION", math_ops.l2_case(rng, "int8")),
            ]
        ]
    )
    report = validate_bytes(micro, "math_micro_avr", samples=3, seed=1, board=BOARD)
    assert report.oracle == "tflm" and report.bit_exact, (report.mismatches_vs_tflm, report.first_divergent_op)
    reference = math_ops._mixed_model(
        [
            (o, small(c))
            for o, c in [
                ("EXP", math_ops.exp_case(rng, "int8")),
                ("EXP", math_ops.exp_case(rng, "int16")),
                ("GELU", math_ops.gelu_case(rng, "int8", False)),
                ("GELU", math_ops.gelu_case(rng, "int16", True)),
                ("LOG", math_ops.log_case(rng, "int8")),
            ]
        ]
    )
    report = validate_bytes(reference, "math_reference_avr", samples=3, seed=2, board=BOARD)
    assert oracle_is(report, "tflite_ref") and report.bit_exact, report.first_divergent_op
    rng = np.random.default_rng(78)
    cases = [div.random_case(rng, kind) for kind in div.KINDS[:5]]
    report = validate_bytes(div.div_model(cases), "div_avr", samples=3, seed=1, board=BOARD)
    assert report.oracle == "tflm" and report.bit_exact, (report.mismatches_vs_tflm, report.first_divergent_op)


DIGITS_WIDTH = 2.0  # the demo's width: 97 KB of int8 weights, read from flash beyond 64 KB


def _digits_model() -> bytes:
    """The demo's pipeline (zoo tinyconv on scikit-learn's digits, quantized with the demo's
    post-training quantization) at the demo's width, two epochs (the shapes matter here, not
    the accuracy): cached on disk beside modelgen's models."""
    from edgeconv.training.demo import DEMO_ARCH, DEMO_DATA, DEMO_TRAINING

    training = {**DEMO_TRAINING, "epochs": 2, "width": DIGITS_WIDTH}

    def build() -> bytes:
        from edgeconv.training.quantizing import quantize_model
        from edgeconv.training.train import train

        with tempfile.TemporaryDirectory() as tmp:
            keras_path, tflite_path = Path(tmp) / "digits.keras", Path(tmp) / "digits.tflite"
            train(DEMO_ARCH, DEMO_DATA, keras_path, seed=0, verbose=0, **training)
            quantize_model(keras_path, out=tflite_path, calib=200, seed=0)
            return tflite_path.read_bytes()

    # modelgen.cached_model's key, without importing TensorFlow when the model is cached.
    from importlib.metadata import PackageNotFoundError, version

    def tf_version() -> str:
        for dist in ("tensorflow", "tensorflow-cpu"):
            try:
                return version(dist)
            except PackageNotFoundError:
                pass
        return "absent"

    spec = {"avr_digits": DEMO_ARCH, "data": DEMO_DATA, **training}
    key = hashlib.sha256(json.dumps({"spec": spec, "tf": tf_version()}, sort_keys=True).encode()).hexdigest()
    path = cache_root() / "models" / f"avr_digits_{key[:32]}.tflite"
    if not path.exists():
        write_atomically(path, build())
    return path.read_bytes()


def test_digits_demo_architecture_bit_exact():
    from edgeconv.training.datasets import load_dataset, split
    from edgeconv.training.train import TEST_FRACTION
    from quantize.ptq import quantize_input

    data = _digits_model()
    model = compile_bytes(data, "digits_avr", board=load_board(BOARD))
    emitted = emit(model)
    # int8 weights (no DSP: --weights auto keeps int8), beyond 64 KB, the largest over 32 KB
    assert set(model.weights.chosen.values()) == {"int8"} and emitted.program_memory_bytes > 96000
    assert max(v.nbytes for s in model.steps for v in s.kernel.params.values() if hasattr(v, "nbytes")) > 32767
    assert not reference_defines(load_board(BOARD), emitted)  # far references
    t_in = model.graph.tensors[model.graph.inputs[0]]
    _, test = split(load_dataset("digits"), TEST_FRACTION, 0)
    xq = quantize_input(test.x[:4], t_in.quant.s, t_in.quant.zp, np.int8).reshape((-1, *t_in.shape))
    report = validate_bytes(data, "digits_avr", samples=2, seed=0, board=BOARD, extra_inputs=[[x] for x in xq])
    assert report.board == BOARD and report.samples == 6
    assert report.bit_exact, (
        f"{report.mismatches_vs_tflm} elements differ; first divergent op {report.first_divergent_op}"
    )
    assert report.ram_bytes <= load_board(BOARD).ram_bytes


def test_micro_speech_weights_in_flash_bit_exact(shared_models):
    """micro_speech: 16.6 KB of weights and its biases and requantization pairs (EC_FLASH_ARRAY,
    read with pgm_read_*: near references, they end below 64 KB) stay in flash, so its 6.4 KB
    arena and the rest fit the 8 KB SRAM: bit-exact on its shipped samples and two random ones,
    and the SRAM holds no constant array."""
    path = shared_models / "tflite_micro" / "micro_speech_quantized.tflite"
    report = validate_file(path, samples=2, seed=0, board=BOARD)
    assert report.board == BOARD and report.samples == 4
    assert report.bit_exact, (
        f"{report.mismatches_vs_tflm} elements differ; first divergent op {report.first_divergent_op}"
    )
    model = compile_file(path, board=load_board(BOARD))
    emitted = emit(model)
    # every constant array (DEPTHWISE_CONV_2D's and FULLY_CONNECTED's weights, biases,
    # requantization pairs) is placed in flash
    assert emitted.program_memory_bytes > emitted.weights_bytes > 16000
    assert reference_defines(load_board(BOARD), emitted, SAMPLE_BATCH_BYTES) == (NEAR_DEFINE,)
    fw = build_emulated(model, BOARD)
    try:
        in_sram = fw.static_ram_bytes - model.ram_bytes  # .data and .bss beyond the arena
        assert 0 < in_sram < emitted.flash_const_bytes - emitted.program_memory_bytes + 1024, in_sram
        assert fw.static_ram_bytes + fw.stack_need_bytes <= load_board(BOARD).ram_bytes
    finally:
        fw.close()


def test_int16_stored_weights_from_flash_bit_exact():
    """CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with pre-widened int16 weights
    (--weights int16): their EC_C_S16 reads (pgm_read_word) from flash."""
    for name in ("conv", "depthwise", "fully_connected"):
        report = validate_bytes(
            mutants.base_bytes(name), f"{name}_w16_avr", samples=3, seed=2, board=BOARD, weights="int16"
        )
        assert report.oracle == "tflm" and report.bit_exact, (name, report.mismatches_vs_tflm)


def test_batch_matmul_constant_operand_in_flash_bit_exact():
    """BATCH_MATMUL's constant right-hand side (int8 and int16, read through EC_C_S8/S16 from
    flash) next to run-time operands of the same kernels (read from SRAM)."""
    import lowering.test_ops_batch_matmul as bmm

    data = bmm.mixed_model()
    model = compile_bytes(data, "bmm_mixed_avr", board=load_board(BOARD))
    assert emit(model).program_memory_bytes > 0
    report = validate_bytes(data, "bmm_mixed_avr", samples=3, seed=4, board=BOARD)
    assert report.oracle == "tflm" and report.bit_exact, (report.mismatches_vs_tflm, report.first_divergent_op)


def _fc_chain(layers: int, width: int) -> bytes:
    """FULLY_CONNECTED layers of width x width int8 weights in a chain (each array under
    avr-gcc's 32,767-byte object limit)."""
    rng = np.random.default_rng(5)
    n = mutants.Net()
    x = first = n.tensor("input", [1, width], scale=0.04, zp=0)
    for i in range(layers):
        w = n.tensor(f"w{i}", [width, width], scale=0.01, zp=0, data=rng.integers(-127, 128, (width, width)))
        y = n.tensor(f"y{i}", [1, width], scale=0.05, zp=0)
        n.op("FULLY_CONNECTED", [x, w], [y], fusedActivationFunction=0, keepNumDims=False)
        x = y
    return n.finish([first], [x])


def test_str_ww_constants_in_flash_bit_exact(shared_models):
    """str_ww_ref_model: 46 KB of weights and 11 KB of biases and per-channel requantization
    pairs, all in flash (far references: with the samples they pass 64 KB), beside a 6.7 KB
    arena: bit-exact on random inputs."""
    path = shared_models / "mlcommons_tiny" / "str_ww_ref_model.tflite"
    report = validate_file(path, samples=2, seed=0, board=BOARD)
    assert report.board == BOARD and report.samples == 2 and report.oracle == "tflm"
    assert report.bit_exact, (
        f"{report.mismatches_vs_tflm} elements differ; first divergent op {report.first_divergent_op}"
    )
    assert report.ram_bytes <= load_board(BOARD).ram_bytes


def test_large_and_far_arrays_bit_exact():
    """Kernel level: one FULLY_CONNECTED with 40,000 B of weights (over avr-gcc's 32,767-byte
    object limit: emitted in two consecutive parts), read through near references; three of
    them (120 KB, the last ones beyond 64 KB of flash) through 32-bit far references."""
    board = load_board(BOARD)
    for layers, near in ((1, True), (3, False)):
        data = _fc_chain(layers, 200)
        model = compile_bytes(data, f"fc{layers}_avr", board=board)
        emitted = emit(model)
        assert emitted.program_memory_bytes > 40000 * layers
        assert f"fc{layers}_avr_op0_weights_p1[" in emitted.files[f"fc{layers}_avr.c"]
        assert bool(reference_defines(board, emitted, SAMPLE_BATCH_BYTES)) == near
        report = validate_bytes(data, f"fc{layers}_avr", samples=3, seed=6, board=BOARD)
        assert report.oracle == "tflm" and report.bit_exact, (layers, report.mismatches_vs_tflm)


def test_too_big_is_refused():
    """A model whose arena exceeds the SRAM, and one whose constants exceed the 256 KB of flash
    (seven 40 KB FULLY_CONNECTED layers), are refused in one line."""
    board = load_board(BOARD)
    wide = compile_bytes(_fc_chain(1, 4200), "wide_avr", board=board)  # 8.4 KB of activations
    with pytest.raises(ModelError, match=r"does not fit atmega2560 .*SRAM holds") as info:
        build_emulated(wide, BOARD)
    assert "\n" not in str(info.value)
    huge = compile_bytes(_fc_chain(7, 200), "huge_avr", board=board)
    with pytest.raises(ModelError, match=r"does not fit atmega2560 .*flash.* has 262,144 B") as info:
        build_emulated(huge, BOARD)
    assert "\n" not in str(info.value)


# Its `edgeconv build --json` run is like targets/test_firmware.py's and frontend/test_boards.py's: each test shows its
# whole command line, so a failure reads without a helper
def test_build_cli(tmp_path):
    model = tmp_path / "conv.tflite"
    model.write_bytes(mutants.base_bytes("conv"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconv.cli",
            "build",
            str(model),
            "--board",
            BOARD,
            "-o",
            str(tmp_path / "fw"),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["board"] == BOARD and 0 < r["flash_bytes"] <= 262144 and 0 < r["ram_bytes"] <= 8192
    assert r["flash_weights_bytes"] > 0 and r["ram_stack_bytes"] == 1024
    assert r["ram_origin"] == 0x800200 and r["stack_top"] == 0x8021FF and r["stack_uncertain"]
    assert (tmp_path / "fw" / "firmware.elf").exists() and not (tmp_path / "fw" / "link.ld").exists()


def test_inspect_says_instructions_are_not_counted(tmp_path):
    """simavr counts no instructions: inspect --board says so in one line (exit 2)."""
    model = tmp_path / "conv.tflite"
    model.write_bytes(mutants.base_bytes("conv"))
    proc = subprocess.run(
        [sys.executable, "-m", "edgeconv.cli", "inspect", str(model), "--board", BOARD], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "edgeconv: error: no instruction-counting emulator models atmega2560: its instructions are not measured"
    )
