"""DEPTHWISE_CONV_2D, lowered to one of the ec_depthwise_conv2d_s8* entry points (c_runtime/ec_depthwise_conv.c)."""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor
from edgeconv.lowering.ops import conv as conv_ops
from edgeconv.lowering.ops.base import CArray, Kernel, WeightForm, fail, fused_activation, int8_io, lowering
from edgeconv.lowering.ops.mac import (
    accumulator_bounds,
    channel_scales,
    check_accumulator,
    conv_multipliers,
    fold_bias,
    multiplier_fields,
    s16_bias_field,
    s16_io,
    s16_requant_pairs,
    s16_sum_fits_int32,
    spatial_geometry,
    weights_and_bias,
)
from edgeconv.lowering.ops.ranges import check_requantize, require_tflite_int16


def depthwise_shapes(graph: Graph, op: Op, x: Tensor, y: Tensor, w: Tensor) -> tuple[int, ...]:
    """k_h, k_w, out_c, batches, in_h, in_w, in_c and the depth multiplier, with TFLite's checks
    of weights [1, kh, kw, C], output channels and batch."""
    if len(w.shape) != 4 or w.shape[0] != 1:
        raise fail(graph, op, f"weights {w.describe()} have shape {list(w.shape)}, expected [1, kh, kw, C]")
    _, k_h, k_w, out_c = w.shape
    b, in_h, in_w, in_c = x.shape
    if y.shape[3] != out_c or in_c <= 0 or out_c % in_c:
        raise fail(
            graph, op, f"output channels {y.shape[3]} / weights {list(w.shape)} do not fit input channels {in_c}"
        )
    if y.shape[0] != b:
        raise fail(graph, op, f"output batch {y.shape[0]} differs from the input's {b}")
    multiplier = out_c // in_c
    require_tflite_int16(graph, op, **{"depth multiplier": multiplier})
    return k_h, k_w, out_c, b, in_h, in_w, in_c, multiplier


@lowering("DEPTHWISE_CONV_2D")
def lower_depthwise_conv2d(graph: Graph, op: Op) -> Kernel:
    if graph.tensors[op.inputs[0]].dtype == "int16":
        return lower_depthwise_conv2d_s16(graph, op)
    # One input channel: the op is a convolution (micro_speech's first layer, person_detect's);
    # the conv kernels run it faster. The conv module may not offer this yet.
    as_conv = getattr(conv_ops, "lower_depthwise_as_conv2d", None)
    if as_conv is not None:
        kernel = as_conv(graph, op)
        if kernel is not None:
            return kernel
    x, y, _, _ = int8_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=3)
    k_h, k_w, out_c, b, in_h, in_w, in_c, multiplier = depthwise_shapes(graph, op, x, y, w)
    geometry = spatial_geometry(graph, op, x, y, k_h, k_w)
    w_scales = channel_scales(w, out_c)
    mult, shift = conv_multipliers(x.quant.s, w_scales, y.quant.s)
    act_min, act_max = fused_activation(graph, op, y)
    folded = fold_bias(bias, w.data.reshape(-1, out_c).sum(axis=0, dtype=np.int64), x.quant.zp)
    abs_sums = np.abs(w.data.astype(np.int64)).reshape(-1, out_c).sum(axis=0)
    check_accumulator(graph, op, folded, abs_sums)
    multiplier_fields(graph, op, mult, shift)  # its checks
    # Always per channel (the DSP kernel reads one pair per channel without an index mask), each
    # multiplier beside its shift (one pointer and one load for both).
    requant = dict(
        per_channel=1,
        requant=CArray(
            "int32_t",
            np.stack([np.asarray(mult, dtype=np.int64), np.asarray(shift, dtype=np.int64)], axis=1)
            .astype(np.int32)
            .reshape(-1),
            "multiplier",
            program_memory=True,
        ),
    )
    check_requantize(graph, op, accumulator_bounds(folded, abs_sums).tolist(), mult, shift, y.quant.zp)
    _, out_h, out_w, _ = y.shape
    taps = k_h * k_w
    sh, sw, dh, dw = geometry["stride_h"], geometry["stride_w"], geometry["dil_h"], geometry["dil_w"]
    span_w = (out_w - 1) * sw + (k_w - 1) * dw + 1
    span_h = (k_h - 1) * dh + 1
    pads = (
        geometry["pad_w"] > 0
        or span_w - geometry["pad_w"] > in_w
        or geometry["pad_h"] > 0
        or (out_h - 1) * sh + span_h - geometry["pad_h"] > in_h
    )
    # Padded output rows are computed from a zero-point-widened copy of their k_h input rows
    # (ec_depthwise_conv.c), unless that block would outgrow the layer's input (and 4 KB): then
    # (a huge dilation, say) they take a slow checked path and the arena stays small. A layer
    # that never pads leaves its (minimal) scratch unused.
    block = k_h * span_w * in_c
    pad_block = pads and block <= max(in_h * in_w * in_c, PAD_BLOCK_MIN_LIMIT)
    scratch = block if pad_block else 4
    weights8, weights16 = arrange_weights(w.data.reshape(taps, out_c), multiplier)
    func = depthwise_entry_point(multiplier, k_h, k_w, in_w, out_w, sh, sw, dh, dw)
    forms = []
    if weights16 is not None:
        blocked_macs = b * out_h * out_w * (out_c - out_c % 4) * taps
        forms.append(
            WeightForm(
                "int16",
                {"weights": None, "weights16": CArray("int16_t", weights16, "weights", program_memory=True)},
                extra_flash_bytes=int(weights16.nbytes - weights8.nbytes),
                instructions_saved=int(blocked_macs * (INT16_SAVED_PER_MAC_KX1 if k_w == 1 else INT16_SAVED_PER_MAC)),
                func=func + "_w16",
            )
        )
    # ec_depthwise_conv2d_params_t's fields; like the s16 one below and conv.py's, but kept apart: each C params struct
    # has its own fields, which this dict must match one for one
    return Kernel(
        func=func,
        unit="ec_depthwise_conv",
        params_type="ec_depthwise_conv2d_params_t",
        params=dict(
            batches=b,
            in_h=in_h,
            in_w=in_w,
            in_c=in_c,
            out_h=out_h,
            out_w=out_w,
            out_c=out_c,
            depth_multiplier=multiplier,
            k_h=k_h,
            k_w=k_w,
            **geometry,
            input_zp=x.quant.zp,
            output_zp=y.quant.zp,
            act_min=act_min,
            act_max=act_max,
            pad_block=int(pad_block),
            weights=CArray("int8_t", weights8, "weights", program_memory=True),
            bias=CArray("int32_t", folded, "bias", program_memory=True),
            **requant,
            weights16=None,  # the int16 form's (WeightForm above)
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=b * out_h * out_w * out_c * k_h * k_w,
        scratch_bytes=scratch,
        weight_forms=forms,
        summary=f"{k_h}x{k_w}/{geometry['stride_h']},{geometry['stride_w']} "
        f"{'SAME' if op.options.get('padding', 0) == 0 else 'VALID'} x{multiplier} {in_c}->{out_c}",
    )


PAD_BLOCK_MIN_LIMIT = 4096  # bytes of padded rows a layer may always use, whatever its input's size

# Instructions the int16 form saves per MAC of the channel blocks (it skips unpacking the
# weights), measured on cortex-m4, int8 vs int16 on the same layers: 3x3 KWS 0.26, VWW stride 1
# 0.10-0.24, stride 2 0.27; Kx1 (str_ww) 0.09 (3x1) to 0.30 (10x1).
INT16_SAVED_PER_MAC = 0.2
INT16_SAVED_PER_MAC_KX1 = 0.15


def depthwise_entry_point(
    multiplier: int, k_h: int, k_w: int, in_w: int, out_w: int, stride_h: int, stride_w: int, dil_h: int, dil_w: int
) -> str:
    """The int8 form's entry point (ec_depthwise_conv.h) whose loops fit the layer: a firmware
    links only the loop families its layers name. The pair loops run where consecutive windows
    of a call are one tap apart: one tap column (3x3 rows: stride_w == dil_w, or one-pixel rows
    stride_h input rows apart with stride_h * in_w == dil_w), or one tap row (Kx1: one-pixel
    rows with stride_h == dil_h, or rows with stride_w == dil_h * in_w)."""
    base = "ec_depthwise_conv2d_s8"
    if multiplier != 1:
        return base
    if (k_h, k_w) == (3, 3):
        pairs = stride_w == dil_w or (out_w == 1 and stride_h * in_w == dil_w)
        return base + ("_3x3p" if pairs else "_3x3")
    if k_w == 1:
        pairs = (out_w == 1 and stride_h == dil_h) or stride_w == dil_h * in_w
        return base + ("_kx1p" if pairs else "_kx1")
    return base


def arrange_weights(w: np.ndarray, multiplier: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The weights [taps][C] in the order ec_depthwise_conv.c reads them (see its header):
    depth multiplier 1 in channel blocks of four, [C/4][taps][4], then the last C % 4 channels
    [taps][C % 4]; each block's channels in the order the DSP loop splits a word into halfwords:
    c1, c0, c3, c2 for int8, c0, c2, c1, c3 for the int16 form.
    Other depth multipliers keep [taps][C] and have no int16 form (portable kernel)."""
    if multiplier != 1:
        return w.reshape(-1), None
    taps, c = w.shape
    blocked = c - c % 4
    blocks = w[:, :blocked].reshape(taps, blocked // 4, 4).transpose(1, 0, 2)
    tail = w[:, blocked:]
    w8 = np.concatenate([blocks[:, :, [1, 0, 3, 2]].reshape(-1), tail.reshape(-1)]).astype(np.int8)
    w16 = np.concatenate([blocks[:, :, [0, 2, 1, 3]].reshape(-1), tail.reshape(-1)]).astype(np.int16)
    return w8, w16


def lower_depthwise_conv2d_s16(graph: Graph, op: Op) -> Kernel:
    """DEPTHWISE_CONV_2D 16x8 (int16 activations, int8 weights, int64 bias: TFLite Micro reads
    no other bias type for int16): ec_depthwise_conv2d_s16, TFLite's reference
    DepthwiseConvPerChannel for int16, any depth multiplier and dilation."""
    x, y = s16_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=3, bias_dtypes=("int64",))
    k_h, k_w, out_c, b, in_h, in_w, in_c, multiplier = depthwise_shapes(graph, op, x, y, w)
    geometry = spatial_geometry(graph, op, x, y, k_h, k_w)
    w_scales = channel_scales(w, out_c)
    mult, shift = conv_multipliers(x.quant.s, w_scales, y.quant.s)
    act_min, act_max = fused_activation(graph, op, y)
    taps = w.data.reshape(-1, out_c)
    quads_end = out_c - out_c % 4
    stored = taps.copy()
    if quads_end:
        stored[:, :quads_end] = (
            taps[:, :quads_end].reshape(-1, quads_end // 4, 4)[:, :, [0, 2, 1, 3]].reshape(-1, quads_end)
        )
    pairs = s16_requant_pairs(graph, op, mult, shift, False)
    _, out_h, out_w, _ = y.shape
    # ec_depthwise_conv2d_s16_params_t's fields; like the s8 one above, but kept apart: each C params struct has its own
    # fields, which this dict must match one for one
    return Kernel(
        func="ec_depthwise_conv2d_s16",
        unit="ec_depthwise_conv",
        params_type="ec_depthwise_conv2d_s16_params_t",
        params=dict(
            batches=b,
            in_h=in_h,
            in_w=in_w,
            in_c=in_c,
            out_h=out_h,
            out_w=out_w,
            out_c=out_c,
            depth_multiplier=multiplier,
            k_h=k_h,
            k_w=k_w,
            **geometry,
            act_min=act_min,
            act_max=act_max,
            sum32=int(s16_sum_fits_int32(np.abs(taps.astype(np.int64)).sum(axis=0))),
            weights=CArray("int8_t", stored, "weights", program_memory=True),
            tap_off=CArray(
                "int32_t",
                (
                    (np.arange(k_h)[:, None] * geometry["dil_h"] * in_w + np.arange(k_w)[None, :] * geometry["dil_w"])
                    * in_c
                ).reshape(-1),
                "offsets",
                program_memory=True,
            ),
            bias=s16_bias_field(bias, pairs, False),
            requant=CArray("int32_t", pairs, "multiplier", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=b * out_h * out_w * out_c * k_h * k_w,
        summary=f"{k_h}x{k_w}/{geometry['stride_h']},{geometry['stride_w']} "
        f"{'SAME' if op.options.get('padding', 0) == 0 else 'VALID'} 16x8 x{multiplier} {in_c}->{out_c}",
    )
