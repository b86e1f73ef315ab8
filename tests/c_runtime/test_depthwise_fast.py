"""DEPTHWISE_CONV_2D's DSP path (c_runtime/ec_depthwise_conv.c: four channels per SIMD step,
padded rows copied into scratch) against its portable path and TFLite Micro, on seeded random
shapes: channels not a multiple of 4, odd widths, strides 1-2, SAME and VALID, dilation,
depth multipliers 1-3, KxK and Kx1 kernels, narrow activation ranges, per-tensor and
per-channel quantization; both weight forms.

Several depthwise ops are independent branches of ONE model (one input and one output each),
so that each check costs one firmware build."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from edgeconv.checking.validation import random_inputs, validate_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops.base import conv_output_size
from edgeconv.targets.emulate import build_emulated
from fastpaths import assert_dsp_equals_portable, branches_model
from tests.mutants import SAME, VALID, Net

pytest.importorskip("flatbuffers")


# Like test_conv_fast.py's _branch, but DEPTHWISE_CONV_2D (depth multiplier, per-tensor option) rather than CONV_2D:
# kept apart, the ops' tensors differ
# Also like lowering/test_int16_mac.py's _depthwise_branch and c/make_vectors.py's depthwise_model, but int8 with
# a per-tensor option, several branches per model: kept apart, their dtypes, biases and seeds differ
def _branch(
    n: Net,
    rng: np.random.Generator,
    name: str,
    in_h: int,
    in_w: int,
    in_c: int,
    mult: int,
    k_h: int,
    k_w: int,
    stride: tuple[int, int],
    dil: tuple[int, int],
    padding: int,
    act: int = 0,
    per_tensor: bool = False,
) -> tuple[int, int]:
    out_c = in_c * mult
    in_s, in_zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128))
    ws = rng.uniform(0.002, 0.02, out_c).astype(np.float32)
    if per_tensor:
        ws = ws[:1]
    out_s = float(in_s * float(ws.mean()) * 135 * math.sqrt(k_h * k_w))
    out_h = conv_output_size(padding, in_h, k_h, stride[0], dil[0])
    out_w = conv_output_size(padding, in_w, k_w, stride[1], dil[1])
    x = n.tensor(f"{name}_in", [1, in_h, in_w, in_c], scale=in_s, zp=in_zp)
    w_shape = [1, k_h, k_w, out_c]
    w = n.tensor(f"{name}_w", w_shape, scale=ws, zp=[0] * len(ws), data=rng.integers(-127, 128, w_shape), axis=3)
    b_scale = np.float32(in_s) * (np.repeat(ws, out_c) if per_tensor else ws)
    b = n.tensor(f"{name}_b", [out_c], "int32", scale=b_scale, zp=[0] * out_c, data=rng.integers(-3000, 3000, out_c))
    y = n.tensor(
        f"{name}_out", [1, out_h, out_w, out_c], scale=out_s, zp=-128 if act == 1 else int(rng.integers(-20, 20))
    )
    n.op(
        "DEPTHWISE_CONV_2D",
        [x, w, b],
        [y],
        padding=padding,
        strideH=stride[0],
        strideW=stride[1],
        dilationHFactor=dil[0],
        dilationWFactor=dil[1],
        fusedActivationFunction=act,
        depthMultiplier=mult,
    )
    return x, y


def _random_branches(seed: int, count: int) -> list[dict]:
    """Shapes drawn around the corners the kernel distinguishes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        k_h = int(rng.choice([1, 2, 3, 3, 5]))
        k_w = int(rng.choice([k_h, k_h, 1, 2]))
        dil = (1, 1) if rng.random() < 0.7 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        out.append(
            dict(
                in_h=int(rng.integers(max(k_h, 2), 9)) + (k_h - 1) * (dil[0] - 1),
                in_w=int(rng.integers(max(k_w, 2), 10)) + (k_w - 1) * (dil[1] - 1),
                in_c=int(rng.choice([2, 3, 4, 5, 7, 8, 12, 13])),
                mult=int(rng.choice([1, 1, 1, 2, 3])),
                k_h=k_h,
                k_w=k_w,
                stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                dil=dil,
                padding=int(rng.choice([SAME, VALID])),
                act=int(rng.choice([0, 0, 1, 3])),
            )
        )
    return out


FIXED = [
    dict(in_h=7, in_w=5, in_c=8, mult=1, k_h=3, k_w=3, stride=(1, 1), dil=(1, 1), padding=SAME, act=1),  # KWS-like
    dict(in_h=7, in_w=7, in_c=6, mult=1, k_h=3, k_w=3, stride=(2, 2), dil=(1, 1), padding=SAME, act=3),  # tail, relu6
    dict(in_h=6, in_w=6, in_c=7, mult=1, k_h=3, k_w=3, stride=(2, 2), dil=(1, 1), padding=SAME),  # right pad only
    dict(in_h=9, in_w=1, in_c=5, mult=1, k_h=3, k_w=1, stride=(1, 1), dil=(1, 1), padding=VALID, act=3),  # str_ww
    dict(in_h=17, in_w=1, in_c=12, mult=1, k_h=15, k_w=1, stride=(1, 1), dil=(1, 1), padding=VALID),  # tall
    dict(in_h=11, in_w=3, in_c=9, mult=1, k_h=5, k_w=1, stride=(2, 1), dil=(1, 1), padding=SAME),
    dict(in_h=8, in_w=7, in_c=4, mult=1, k_h=3, k_w=3, stride=(1, 1), dil=(2, 2), padding=SAME),  # dilation
    dict(in_h=6, in_w=8, in_c=9, mult=1, k_h=4, k_w=2, stride=(1, 2), dil=(1, 1), padding=SAME),  # any KxK
    dict(in_h=5, in_w=5, in_c=12, mult=1, k_h=3, k_w=3, stride=(1, 1), dil=(1, 1), padding=VALID, per_tensor=True),
    dict(in_h=5, in_w=6, in_c=3, mult=2, k_h=2, k_w=3, stride=(1, 1), dil=(1, 1), padding=SAME),  # multiplier 2
    dict(in_h=6, in_w=5, in_c=2, mult=3, k_h=3, k_w=3, stride=(2, 1), dil=(1, 1), padding=VALID),  # multiplier 3
    dict(in_h=4, in_w=5, in_c=16, mult=1, k_h=1, k_w=1, stride=(1, 1), dil=(1, 1), padding=SAME),  # 1x1
    dict(in_h=6, in_w=8, in_c=6, mult=1, k_h=3, k_w=3, stride=(1, 1), dil=(1, 1), padding=VALID, act=3),  # pairs, tail
    dict(in_h=9, in_w=9, in_c=5, mult=1, k_h=3, k_w=3, stride=(2, 2), dil=(2, 2), padding=SAME),  # pairs, dilated
    # padded rows (5 x 7 x 401 B) bigger than the input and 4 KB: the checked path
    dict(in_h=2, in_w=3, in_c=401, mult=1, k_h=5, k_w=5, stride=(1, 1), dil=(1, 1), padding=SAME),
]


def _model(branches: list[dict], seed: int) -> bytes:
    return branches_model(_branch, branches, seed)


MODELS = {
    "fixed": (FIXED, 21),
    "random": (_random_branches(2027, 12), 22),
}


def _fast_equals_portable(data: bytes, weights: str, board: str = "cortex-m4", samples: int = 4) -> None:
    model = compile_bytes(data, "dw_fast", weights=weights)
    offered = [
        s
        for s in model.steps
        if s.kernel.func.startswith("ec_depthwise_conv2d_s8") and s.kernel.params["depth_multiplier"] == 1
    ]
    assert offered and {s.kernel.weight_form for s in offered} == {weights}
    assert_dsp_equals_portable(model, random_inputs(model, samples, 7), board)


@pytest.mark.parametrize("which", sorted(MODELS))
@pytest.mark.parametrize("weights", ["int8", "int16"])
def test_dsp_path_equals_portable_path_on_cortex_m4(which, weights):
    branches, seed = MODELS[which]
    _fast_equals_portable(_model(branches, seed), weights)


@pytest.mark.parametrize("which", sorted(MODELS))
@pytest.mark.parametrize("weights", ["int8", "int16"])
def test_portable_path_equals_tflite_micro(which, weights):
    branches, seed = MODELS[which]
    report = validate_bytes(_model(branches, seed), f"dw_fast_{which}", samples=5, seed=3, weights=weights)
    assert report.bit_exact, report.to_dict()


@pytest.mark.parametrize("board,weights", [("cortex-m4", "int16"), ("cortex-m7", "int8"), ("cortex-m33", "int16")])
def test_dsp_path_equals_tflite_micro_on_cores(board, weights):
    branches, seed = MODELS["fixed"]
    report = validate_bytes(_model(branches, seed), "dw_fast_fixed", samples=3, seed=5, board=board, weights=weights)
    assert report.bit_exact, report.to_dict()


def test_weight_layout_and_scratch():
    """Multiplier 1: int8 in blocks of four channels [C/4][taps][4] (c1, c0, c3, c2) then the
    tail [taps][C%4]; the int16 form's blocks in SXTB16 order (c0, c2, c1, c3); multiplier > 1
    keeps [taps][C] and offers no int16. Scratch holds k_h padded rows only when the layer pads."""
    model = compile_bytes(_model(FIXED, 21), "dw_layout", weights="int8")
    by_out = {s.op.outputs[0]: s for s in model.steps}
    g = model.graph
    for i, spec in enumerate(FIXED):
        step = next(s for s in model.steps if g.tensors[s.op.outputs[0]].name == f"b{i}_out")
        k = step.kernel
        w = g.tensors[step.op.inputs[1]].data.reshape(spec["k_h"] * spec["k_w"], -1)
        c = w.shape[1]
        if spec["mult"] == 1:
            blocked = c - c % 4
            expect = np.concatenate(
                [
                    w[:, :blocked].reshape(-1, blocked // 4, 4).transpose(1, 0, 2)[:, :, [1, 0, 3, 2]].reshape(-1),
                    w[:, blocked:].reshape(-1),
                ]
            )
            np.testing.assert_array_equal(k.params["weights"].values, expect)
            (form,) = k.weight_forms
            w16 = form.params["weights16"].values
            expect16 = np.concatenate(
                [
                    w[:, :blocked].reshape(-1, blocked // 4, 4).transpose(1, 0, 2)[:, :, [0, 2, 1, 3]].reshape(-1),
                    w[:, blocked:].reshape(-1),
                ]
            )
            np.testing.assert_array_equal(w16, expect16)
            assert form.instructions_saved > 0 or blocked == 0
        else:
            np.testing.assert_array_equal(k.params["weights"].values, w.reshape(-1))
            assert not k.weight_forms
        assert k.params["per_channel"] == 1 and k.params["requant"].values.size == 2 * c
        pads = spec["padding"] == SAME and (spec["k_h"] > 1 or spec["k_w"] > 1)
        big = spec["in_c"] == 401
        assert k.params["pad_block"] == int(pads and not big), i
        assert (k.scratch_bytes > 4) == (pads and not big), (i, k.scratch_bytes)
    assert by_out


FAMILIES = ["", "_3x3", "_3x3p", "_kx1", "_kx1p"]


@pytest.mark.parametrize("weights,offset", [("int8", 1), ("int16", 3)])
def test_every_entry_point_computes_every_layer(weights, offset):
    """The lowering names the entry point whose loops fit the layer, but each of them must be
    exact on any layer (one outside its family takes the portable row): every layer of FIXED
    called through another family's entry point gives the same outputs on cortex-m4."""
    data = _model(FIXED, 21)
    model = compile_bytes(data, "dw_entries", weights=weights)
    inputs = random_inputs(model, 3, 9)
    results = []
    for rotate in (False, True):
        if rotate:
            dw = [s for s in model.steps if s.kernel.func.startswith("ec_depthwise_conv2d_s8")]
            assert len(dw) == len(FIXED)
            for j, s in enumerate(dw):
                suffix = "_w16" if s.kernel.params.get("weights16") is not None else ""
                s.kernel = dataclasses.replace(
                    s.kernel, func="ec_depthwise_conv2d_s8" + FAMILIES[(j + offset) % len(FAMILIES)] + suffix
                )
        # Like fastpaths.assert_dsp_equals_portable, but one build per forced entry point, not DSP vs -DEC_NO_DSP
        fw = build_emulated(model, "cortex-m4")
        try:
            results.append(fw.run(inputs))
        finally:
            fw.close()
    for fitted, other in zip(*results):
        for a, b in zip(fitted, other):
            np.testing.assert_array_equal(a, b)


def test_entry_point_names_the_loop_family():
    from edgeconv.lowering.ops.depthwise import depthwise_entry_point as entry

    assert entry(1, 3, 3, 25, 25, 1, 1, 1, 1) == "ec_depthwise_conv2d_s8_3x3p"  # KWS
    assert entry(1, 3, 3, 48, 24, 2, 2, 1, 1) == "ec_depthwise_conv2d_s8_3x3"  # VWW stride 2
    assert entry(1, 5, 1, 1, 1, 1, 1, 1, 1) == "ec_depthwise_conv2d_s8_kx1p"  # str_ww
    assert entry(1, 5, 1, 9, 5, 2, 2, 1, 1) == "ec_depthwise_conv2d_s8_kx1"
    assert entry(1, 5, 5, 9, 9, 1, 1, 1, 1) == "ec_depthwise_conv2d_s8"
    assert entry(2, 3, 3, 9, 9, 1, 1, 1, 1) == "ec_depthwise_conv2d_s8"  # multiplier 2: portable rows
