"""FULLY_CONNECTED's blocked kernel and the element-wise ADD/SUB/MUL kernels on random shapes:
bit-exact with TFLite Micro on the host, in both weight forms (int8 and int16), and on an
emulated Cortex-M4 the DSP path (what validate runs) and the portable one (-DEC_NO_DSP) give
the same outputs.

One model per family holds every shape as an independent sub-network (its own input and
output), so each configuration is one build and one run. Shapes: depth not a multiple of 4,
units not a multiple of the 4-row block (and fewer than 4), batches > 1, per-channel and
per-tensor weights, with and without bias, fused activations, a multiplier above 1 (the
requantization's left-shift path); ADD/SUB/MUL same-shape and broadcast, element counts not
a multiple of 4."""

from __future__ import annotations

import functools
import shutil

import numpy as np
import pytest

from edgeconv.checking.validation import random_inputs, validate_bytes
from edgeconv.lowering.compiler import compile_bytes
from fastpaths import assert_dsp_equals_portable
from mutants import Net

# (batches, depth, units, per_channel, bias, activation, multiplier above 1)
FIXED_FC = [
    (1, 16, 8, False, True, 0, False),  # whole blocks, whole groups
    (1, 13, 7, True, True, 1, False),  # depth % 4 = 1, units % 4 = 3
    (3, 22, 9, True, False, 3, False),  # batches, depth % 4 = 2, no bias
    (2, 7, 3, False, True, 0, False),  # fewer units than a block, depth % 4 = 3
    (1, 1, 5, True, True, 0, False),  # depth 1: only the partial group
    (1, 3, 6, False, True, 0, True),  # left-shift requantization
    (4, 40, 4, True, True, 0, False),
    (1, 130, 2, False, True, 0, False),
]


def _fc_shapes(seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    extra = [
        (
            int(rng.integers(1, 4)),
            int(rng.integers(1, 70)),
            int(rng.integers(1, 14)),
            bool(rng.integers(2)),
            bool(rng.integers(2)),
            int(rng.choice([0, 1, 3])),
            False,
        )
        for _ in range(6)
    ]
    return FIXED_FC + extra


def build_fc_model(seed: int = 7) -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for i, (batches, depth, units, per_channel, bias, act, above_one) in enumerate(_fc_shapes(seed)):
        in_s = np.float32(rng.uniform(0.01, 0.1))
        in_zp = int(rng.integers(-20, 21))
        w_s = (rng.uniform(0.004, 0.03, units) if per_channel else np.array([rng.uniform(0.004, 0.03)])).astype(
            np.float32
        )
        w = rng.integers(-127, 128, (units, depth))
        if above_one:
            out_s = np.float32(in_s * float(w_s.max()) / 2.5)
            w = rng.integers(-4, 5, (units, depth))
        else:
            out_s = np.float32(in_s * float(w_s.mean()) * 60.0 * np.sqrt(depth) / rng.uniform(1.0, 4.0))
        x = n.tensor(f"x{i}", [batches, depth], scale=in_s, zp=in_zp)
        wt = n.tensor(f"w{i}", [units, depth], scale=w_s, zp=[0] * len(w_s), data=w, axis=0)
        if bias:
            b = n.tensor(
                f"b{i}", [units], "int32", scale=in_s * w_s, zp=[0] * len(w_s), data=rng.integers(-3000, 3000, units)
            )
        else:
            b = -1
        y = n.tensor(f"y{i}", [batches, units], scale=out_s, zp=int(rng.integers(-10, 11)))
        n.op("FULLY_CONNECTED", [x, wt, b], [y], fusedActivationFunction=act, keepNumDims=False)
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


# (op, shape a, shape b, activation)
ELEMENTWISE = [
    ("ADD", [1, 5, 7, 3], [1, 5, 7, 3], 0),  # tabulated, both inputs contiguous
    ("ADD", [1, 4, 4, 6], [1, 1, 1, 6], 1),  # broadcast; relu: the general clamp
    ("ADD", [1, 4, 5, 1], [1, 4, 5, 5], 0),  # first input constant along the run
    ("ADD", [1, 2, 3, 5], [1, 2, 3, 1], 0),  # 30 elements: no tables
    ("ADD", [1, 9, 9, 16], [1, 9, 9, 16], 3),
    ("SUB", [1, 4, 5, 5], [1, 4, 5, 1], 0),  # tabulated, second input constant along the run
    ("SUB", [1, 3, 3, 7], [1, 3, 3, 7], 0),  # 63 elements: no tables
    ("MUL", [1, 5, 7, 3], [1, 5, 7, 3], 0),
    ("MUL", [1, 4, 4, 6], [1, 1, 1, 6], 1),
    ("MUL", [1, 4, 5, 1], [1, 4, 5, 5], 3),
    ("MUL", [2, 33], [2, 33], 0),
]


def build_elementwise_model(seed: int = 11) -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for i, (opname, sa, sb, act) in enumerate(ELEMENTWISE):
        s0, s1 = (np.float32(v) for v in rng.uniform(0.01, 0.1, 2))
        a = n.tensor(f"a{i}", sa, scale=s0, zp=int(rng.integers(-30, 31)))
        b = n.tensor(f"b{i}", sb, scale=s1, zp=int(rng.integers(-30, 31)))
        shape = list(np.broadcast_shapes(tuple(sa), tuple(sb)))
        out_s = s0 * s1 * 128 * rng.uniform(0.5, 2.0) if opname == "MUL" else max(s0, s1) * rng.uniform(1.0, 2.5)
        y = n.tensor(f"y{i}", shape, scale=np.float32(out_s), zp=int(rng.integers(-10, 11)))
        n.op(opname, [a, b], [y], fusedActivationFunction=act)
        ins += [a, b]
        outs.append(y)
    return n.finish(ins, outs)


@functools.cache
def _fc_data() -> bytes:
    return build_fc_model(7)


@functools.cache
def _elementwise_data() -> bytes:
    return build_elementwise_model(11)


MODELS = {"fc": _fc_data, "elementwise": _elementwise_data}


@pytest.mark.parametrize("weights", ["int8", "int16"])
def test_fc_host_bit_exact(weights):
    report = validate_bytes(_fc_data(), f"fc_fast_{weights}.tflite", samples=8, seed=3, weights=weights)
    assert report.bit_exact, report.to_dict()
    assert report.oracle == "tflm"


def test_elementwise_host_bit_exact():
    report = validate_bytes(_elementwise_data(), "elementwise_fast.tflite", samples=8, seed=3)
    assert report.bit_exact, report.to_dict()
    assert report.oracle == "tflm"


@pytest.fixture
def arm_tools():
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")


@pytest.mark.parametrize("family, weights", [("fc", "int8"), ("fc", "int16"), ("elementwise", "int8")])
def test_emulated_m4_dsp_equals_portable_and_tflm(arm_tools, family, weights):
    data = MODELS[family]()
    report = validate_bytes(
        data, f"{family}_fast_{weights}.tflite", samples=4, seed=5, board="cortex-m4", weights=weights
    )
    assert report.bit_exact, report.to_dict()
    model = compile_bytes(data, f"{family}_fast", weights=weights)
    if family == "fc":
        assert {s.kernel.weight_form for s in model.steps} == {weights}
    assert_dsp_equals_portable(model, random_inputs(model, 6, 9), "cortex-m4")


@pytest.mark.parametrize("family, weights", [("fc", "int8"), ("fc", "int16"), ("elementwise", "int8")])
def test_sanitizers_clean(tmp_path, family, weights):
    """The portable path under ASan/UBSan: no out-of-bounds read (the partial last group of
    inputs), no undefined arithmetic."""
    from edgeconv.emit.emitter import emit
    from sanitized import run_samples, sanitized_executable

    model = compile_bytes(MODELS[family](), f"{family}_fast", weights=weights)
    exe = sanitized_executable(model, emit(model), tmp_path / "build")
    run = run_samples(exe, model, random_inputs(model, 4, 2), tmp_path / "build")
    assert run.returncode == 0 and not run.report, run.stderr_tail
