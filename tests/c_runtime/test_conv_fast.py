"""CONV_2D's register-blocked DSP path (c_runtime/ec_conv.c) against its portable path and
TFLite Micro, on seeded random shapes: channels not a multiple of 4, odd widths (a lone last
pixel), strides 1-3, SAME and VALID, dilation, groups, 1x1, 1-4 input channels, and a
one-input-channel DEPTHWISE_CONV_2D lowered as a convolution, batches of 2 and 3; both weight
forms.

Several convolutions are independent branches of ONE model (one input and one output each),
so that each check costs one firmware build."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeconv.checking.validation import random_inputs, validate_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops.base import conv_output_size
from fastpaths import assert_dsp_equals_portable, branches_model
from tests.mutants import SAME, VALID, Net

pytest.importorskip("flatbuffers")


# Like test_depthwise_fast.py's _branch, but CONV_2D (groups, batches, out_c) rather than DEPTHWISE_CONV_2D (depth
# multiplier): kept apart, the ops' tensors differ
# Also like lowering/test_int16_mac.py's _conv_branch and c/make_vectors.py's conv_model, but int8 with groups and
# batches, several branches per model: kept apart, their dtypes, biases and seeds differ
def _branch(
    n: Net,
    rng: np.random.Generator,
    name: str,
    in_h: int,
    in_w: int,
    in_c: int,
    out_c: int,
    k_h: int,
    k_w: int,
    stride: tuple[int, int],
    dil: tuple[int, int],
    padding: int,
    groups: int = 1,
    depthwise: bool = False,
    act: int = 0,
    batch: int = 1,
) -> tuple[int, int]:
    f_in_c = in_c // groups
    in_s, in_zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128))
    ws = rng.uniform(0.002, 0.02, out_c).astype(np.float32)
    taps = k_h * k_w * (1 if depthwise else f_in_c)
    out_s = float(in_s * float(ws.mean()) * 135 * math.sqrt(taps))
    out_h = conv_output_size(padding, in_h, k_h, stride[0], dil[0])
    out_w = conv_output_size(padding, in_w, k_w, stride[1], dil[1])
    x = n.tensor(f"{name}_in", [batch, in_h, in_w, in_c], scale=in_s, zp=in_zp)
    w_shape = [1, k_h, k_w, out_c] if depthwise else [out_c, k_h, k_w, f_in_c]
    w = n.tensor(
        f"{name}_w",
        w_shape,
        scale=ws,
        zp=[0] * out_c,
        data=rng.integers(-127, 128, w_shape),
        axis=3 if depthwise else 0,
    )
    b = n.tensor(
        f"{name}_b",
        [out_c],
        "int32",
        scale=np.float32(in_s) * ws,
        zp=[0] * out_c,
        data=rng.integers(-3000, 3000, out_c),
    )
    y = n.tensor(f"{name}_out", [batch, out_h, out_w, out_c], scale=out_s, zp=int(rng.integers(-20, 20)))
    common = dict(
        padding=padding,
        strideH=stride[0],
        strideW=stride[1],
        dilationHFactor=dil[0],
        dilationWFactor=dil[1],
        fusedActivationFunction=act,
    )
    if depthwise:
        n.op("DEPTHWISE_CONV_2D", [x, w, b], [y], depthMultiplier=out_c, **common)
    else:
        n.op("CONV_2D", [x, w, b], [y], **common)
    return x, y


def _random_branches(seed: int, count: int) -> list[dict]:
    """Shapes drawn around the corners the kernel distinguishes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        k = int(rng.choice([1, 1, 2, 3, 3, 5]))
        in_c = int(rng.choice([1, 2, 3, 4, 5, 8, 12, 16]))
        out.append(
            dict(
                in_h=int(rng.integers(max(k, 2), 9)),
                in_w=int(rng.integers(max(k, 2), 10)),
                in_c=in_c,
                out_c=int(rng.integers(1, 11)),
                k_h=k,
                k_w=int(rng.choice([k, 1, 2])) if k > 1 else 1,
                stride=(int(rng.integers(1, 4)), int(rng.integers(1, 4))),
                dil=(1, 1),
                padding=int(rng.choice([SAME, VALID])),
                act=int(rng.choice([0, 1, 3])),
            )
        )
    return out


FIXED = [
    dict(in_h=12, in_w=5, in_c=1, out_c=13, k_h=10, k_w=4, stride=(2, 2), dil=(1, 1), padding=SAME),  # KWS-like
    dict(in_h=7, in_w=7, in_c=3, out_c=6, k_h=3, k_w=3, stride=(2, 2), dil=(1, 1), padding=SAME),  # 3-channel first
    dict(in_h=5, in_w=3, in_c=16, out_c=10, k_h=1, k_w=1, stride=(1, 1), dil=(1, 1), padding=SAME),  # 1x1, direct
    dict(in_h=6, in_w=5, in_c=8, out_c=7, k_h=1, k_w=1, stride=(2, 2), dil=(1, 1), padding=VALID),  # 1x1 strided
    dict(in_h=6, in_w=6, in_c=4, out_c=5, k_h=3, k_w=3, stride=(1, 1), dil=(2, 2), padding=SAME),  # dilation
    dict(in_h=5, in_w=5, in_c=2, out_c=3, k_h=3, k_w=2, stride=(1, 2), dil=(2, 1), padding=VALID),  # dilation, VALID
    dict(in_h=6, in_w=7, in_c=8, out_c=6, k_h=3, k_w=3, stride=(1, 1), dil=(1, 1), padding=SAME, groups=2),
    dict(in_h=5, in_w=5, in_c=12, out_c=6, k_h=1, k_w=1, stride=(1, 1), dil=(1, 1), padding=SAME, groups=3),
    dict(in_h=3, in_w=3, in_c=8, out_c=5, k_h=1, k_w=1, stride=(1, 1), dil=(1, 1), padding=VALID, batch=3),
    dict(in_h=4, in_w=3, in_c=2, out_c=4, k_h=3, k_w=3, stride=(1, 1), dil=(1, 1), padding=SAME, batch=2),
    dict(in_h=9, in_w=7, in_c=1, out_c=8, k_h=4, k_w=3, stride=(2, 2), dil=(1, 1), padding=SAME, depthwise=True),
    dict(in_h=6, in_w=5, in_c=1, out_c=3, k_h=3, k_w=3, stride=(1, 1), dil=(1, 1), padding=VALID, depthwise=True),
]


def _model(branches: list[dict], seed: int) -> bytes:
    return branches_model(_branch, branches, seed)


MODELS = {
    "fixed": (FIXED, 11),
    "random": (_random_branches(2026, 10), 12),
}


def _fast_equals_portable(data: bytes, weights: str, board: str = "cortex-m4", samples: int = 4) -> None:
    model = compile_bytes(data, "conv_fast", weights=weights)
    forms = {s.kernel.weight_form for s in model.steps if s.kernel.func.startswith("ec_conv2d_s8")}
    assert forms == {weights}
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
    report = validate_bytes(_model(branches, seed), f"conv_fast_{which}", samples=5, seed=3, weights=weights)
    assert report.bit_exact, report.to_dict()


@pytest.mark.parametrize("board", ["cortex-m7", "cortex-m33"])
def test_dsp_path_equals_tflite_micro_on_other_cores(board):
    branches, seed = MODELS["fixed"]
    report = validate_bytes(_model(branches, seed), "conv_fast_fixed", samples=3, seed=5, board=board, weights="int8")
    assert report.bit_exact, report.to_dict()


def test_one_channel_depthwise_is_lowered_as_a_convolution():
    data = _model(FIXED[-2:], 13)
    model = compile_bytes(data, "dw_as_conv", weights="int8")
    assert [s.kernel.func for s in model.steps] == ["ec_conv2d_s8", "ec_conv2d_s8"]


def test_layout_pads_channels_and_taps_to_multiples_of_4():
    from edgeconv.lowering.ops.conv import conv_layout

    w = np.arange(6 * 3 * 3 * 2, dtype=np.int64).reshape(6, 3, 3, 2) % 251 - 125
    layout = conv_layout(w.astype(np.int8), groups=2)
    assert (layout.k_pad, layout.oc_pad) == (20, 4)
    assert layout.weights8.size == layout.weights16.size == 2 * 4 * 20
    # every weight appears once, the padding is zero
    assert sorted(layout.weights8[layout.weights8 != 0].tolist()) == sorted(w[w != 0].tolist())
    assert np.array_equal(np.sort(layout.weights8.astype(np.int16)), np.sort(layout.weights16))
