"""CONV_2D: the convolution, lowered to ec_conv2d_s8 (c_runtime/ec_conv.c).

The weights are laid out at compile time in the order the kernel's register-blocked loop
reads them (ec_conv.h): blocks of 4 output channels per group (padded with zero filters),
each filter's taps padded with zeros to a multiple of 4, quads interleaved so that SXTB16 of
a weight word pairs with SXTB16 of an input word. A DEPTHWISE_CONV_2D with one input channel
is the same convolution (lower_depthwise_as_conv2d)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor
from edgeconv.lowering.ops.base import CArray, Kernel, WeightForm, fail, fused_activation, int8_io, lowering
from edgeconv.lowering.ops.mac import (
    accumulator_bounds,
    channel_scales,
    check_accumulator,
    conv_multipliers,
    fold_bias,
    multiplier_fields,
    s16_accumulator_is_int32,
    s16_bias_field,
    s16_io,
    s16_requant_pairs,
    s16_sum_fits_int32,
    spatial_geometry,
    weights_and_bias,
)
from edgeconv.lowering.ops.ranges import check_requantize, require_int32, require_tflite_int16

# Measured on cortex-m4 (count.py --weights int8 / int16 on kws_ref_model): the int16 weight
# form saves the SXTB16 of every weight word: the loop runs 56 instead of 66 instructions per
# 64 MACs; whole layers: 1x1 64->64 764,235 -> 680,571 instructions (0.163 per MAC), the first
# layer 10x4 1->64 663,369 -> 609,945 (0.167). Per padded MAC (what the loop runs):
INT16_SAVED_PER_MAC = 0.16


@dataclass
class ConvLayout:
    """The padded, interleaved weights and per-channel arrays the kernel reads."""

    k_pad: int  # taps per filter, rounded up to a multiple of 4
    oc_pad: int  # filters per group, rounded up to a multiple of 4
    weights8: np.ndarray
    weights16: np.ndarray

    def per_channel(self, values: np.ndarray, groups: int, dtype) -> np.ndarray:
        """Per output channel values (group-major) spread to the padded channels (0 there)."""
        fpg = values.size // groups
        out = np.zeros((groups, self.oc_pad), dtype=dtype)
        out[:, :fpg] = np.asarray(values).reshape(groups, fpg)
        return out.reshape(-1)


def conv_layout(w: np.ndarray, groups: int) -> ConvLayout:
    """w: [out_c, k_h, k_w, filter_in_c] int8, in TFLite's order (group-major filters)."""
    out_c = w.shape[0]
    taps = int(np.prod(w.shape[1:]))
    fpg = out_c // groups
    k_pad = -(-taps // 4) * 4
    oc_pad = -(-fpg // 4) * 4
    wp = np.zeros((groups, oc_pad, k_pad), dtype=np.int8)
    wp[:, :fpg, :taps] = w.reshape(groups, fpg, taps)
    blocks, quads = oc_pad // 4, k_pad // 4
    # channel ch = 2 * pair + lane, tap k = 4 * quad + 2 * pos + half
    w8 = wp.reshape(groups, blocks, 2, 2, quads, 2, 2).transpose(0, 1, 4, 6, 2, 5, 3)  # quad, half, pair, pos, lane
    w16 = wp.reshape(groups, blocks, 4, quads, 2, 2).transpose(0, 1, 3, 5, 2, 4).astype(np.int16)  # quad, half, ch, pos
    return ConvLayout(k_pad, oc_pad, np.ascontiguousarray(w8).reshape(-1), np.ascontiguousarray(w16).reshape(-1))


def conv_scratch_bytes(k_pad: int, filter_in_c: int) -> int:
    """ec_conv2d_s8's scratch: two pixels' int16 columns (4 * k_pad bytes), plus their int8
    columns (2 * k_pad) unless filter_in_c is a multiple of 4 (columns then come straight
    from the input); the portable path uses 2 * k_pad bytes of it (two int8 columns)."""
    return 4 * k_pad + (0 if filter_in_c % 4 == 0 else 2 * k_pad)


def conv_kernel(
    graph: Graph, op: Op, x: Tensor, y: Tensor, w_data: np.ndarray, w_scales, bias, summary_kind: str
) -> Kernel:
    """The ec_conv2d_s8 call for weights w_data [out_c, k_h, k_w, filter_in_c] with the
    output channel scales w_scales; every compile-time check of the arithmetic included."""
    out_c, k_h, k_w, f_in_c = w_data.shape
    b, in_h, in_w, in_c = x.shape
    groups = in_c // f_in_c
    geometry = spatial_geometry(graph, op, x, y, k_h, k_w)
    mult, shift = conv_multipliers(x.quant.s, w_scales, y.quant.s)
    act_min, act_max = fused_activation(graph, op, y)
    folded = fold_bias(bias, w_data.reshape(out_c, -1).sum(axis=1, dtype=np.int64), x.quant.zp)
    abs_sums = np.abs(w_data.astype(np.int64)).reshape(out_c, -1).sum(axis=1)
    check_accumulator(graph, op, folded, abs_sums)
    multiplier_fields(graph, op, mult, shift)  # refuses shifts above 30; the kernel reads padded arrays
    check_requantize(graph, op, accumulator_bounds(folded, abs_sums).tolist(), mult, shift, y.quant.zp)
    layout = conv_layout(w_data, groups)
    _, out_h, out_w, _ = y.shape
    # the kernel's offsets into the padded weights, columns and outputs
    require_int32(
        graph,
        op,
        **{
            "padded weights": layout.weights8.size,
            "padded channels x padded taps": groups * layout.oc_pad * layout.k_pad * 4,
            "scratch bytes": conv_scratch_bytes(layout.k_pad, f_in_c),
        },
    )
    mult_p = layout.per_channel(np.asarray(mult, dtype=np.int64), groups, np.int32)
    shift_p = layout.per_channel(np.asarray(shift, dtype=np.int64), groups, np.int32)
    macs = b * out_h * out_w * out_c * k_h * k_w * f_in_c
    padded_macs = b * out_h * out_w * groups * layout.oc_pad * layout.k_pad
    return Kernel(
        # ec_conv2d_params_t's fields; like the s16 one below, depthwise.py's and transpose_conv.py's, but kept apart:
        # each C params struct has its own fields, which this dict must match one for one
        func="ec_conv2d_s8",
        unit="ec_conv",
        params_type="ec_conv2d_params_t",
        params=dict(
            batches=b,
            in_h=in_h,
            in_w=in_w,
            in_c=in_c,
            out_h=out_h,
            out_w=out_w,
            out_c=out_c,
            k_h=k_h,
            k_w=k_w,
            filter_in_c=f_in_c,
            **geometry,
            input_zp=x.quant.zp,
            output_zp=y.quant.zp,
            act_min=act_min,
            act_max=act_max,
            k_pad=layout.k_pad,
            oc_pad=layout.oc_pad,
            weights=CArray("int8_t", layout.weights8, "weights", program_memory=True),
            bias=CArray("int32_t", layout.per_channel(folded, groups, np.int32), "bias", program_memory=True),
            # each multiplier beside its shift: one pointer and one LDRD per channel
            requant=CArray(
                "int32_t", np.stack([mult_p, shift_p], axis=1).reshape(-1), "multiplier", program_memory=True
            ),
        ),
        inputs=[x.index],
        outputs=[y.index],
        scratch_bytes=conv_scratch_bytes(layout.k_pad, f_in_c),
        macs=macs,
        summary=f"{k_h}x{k_w}/{geometry['stride_h']},{geometry['stride_w']} "
        f"{'SAME' if op.options.get('padding', 0) == 0 else 'VALID'} {summary_kind}{in_c}->{out_c}"
        + (f" dil {geometry['dil_h']},{geometry['dil_w']}" if max(geometry["dil_h"], geometry["dil_w"]) > 1 else ""),
        weight_forms=[
            WeightForm(
                "int16",
                {"weights": None, "weights16": CArray("int16_t", layout.weights16, "weights", program_memory=True)},
                extra_flash_bytes=int(layout.weights16.size),
                instructions_saved=int(INT16_SAVED_PER_MAC * padded_macs),
                func="ec_conv2d_s8_w16",  # the entry point that links only the int16 block loop
            )
        ],
    )


def check_conv_shapes(graph: Graph, op: Op, x: Tensor, y: Tensor, w: Tensor) -> tuple[int, int, int, int]:
    """CONV_2D's weights [out_c, k_h, k_w, filter_in_c] against its input and output (groups:
    the input channels a whole number of filter_in_c, the outputs a whole number per group)."""
    if len(w.shape) != 4:
        raise fail(graph, op, f"weights {w.describe()} have shape {list(w.shape)}, expected 4-D")
    out_c, k_h, k_w, f_in_c = w.shape
    b, _, _, in_c = x.shape
    if y.shape[3] != out_c or y.shape[0] != b:
        raise fail(graph, op, f"output shape {list(y.shape)} does not match weights {list(w.shape)}")
    if f_in_c <= 0 or in_c % f_in_c or out_c % (in_c // f_in_c):
        raise fail(graph, op, f"input channels {in_c} do not divide into groups of {f_in_c}")
    return out_c, k_h, k_w, f_in_c


@lowering("CONV_2D")
def lower_conv2d(graph: Graph, op: Op) -> Kernel:
    if graph.tensors[op.inputs[0]].dtype == "int16":
        return lower_conv2d_s16(graph, op)
    x, y, _, _ = int8_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=0)
    out_c = check_conv_shapes(graph, op, x, y, w)[0]
    w_scales = channel_scales(w, out_c)
    return conv_kernel(graph, op, x, y, w.data, w_scales, bias, "")


def lower_depthwise_as_conv2d(graph: Graph, op: Op) -> Kernel | None:
    """A DEPTHWISE_CONV_2D with one input channel, as ec_conv2d_s8: output channel m is
    input channel 0 times filter m (depth multiplier M = out_c), a convolution from 1 to M
    channels with weights [1, k_h, k_w, M] transposed to [M, k_h, k_w, 1]. None when the op
    is not of that kind or its shapes are malformed (the depthwise lowering then reports)."""
    if op.opcode != "DEPTHWISE_CONV_2D" or len(op.inputs) < 2 or op.inputs[1] < 0:
        return None
    x, y, _, _ = int8_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=3)
    if len(w.shape) != 4 or w.shape[0] != 1 or len(x.shape) != 4 or len(y.shape) != 4:
        return None
    _, k_h, k_w, out_c = w.shape
    b, _, _, in_c = x.shape
    if in_c != 1 or y.shape[3] != out_c or y.shape[0] != b or out_c < 1:
        return None
    if bias is not None and bias.size != out_c:
        return None
    require_tflite_int16(graph, op, **{"depth multiplier": out_c})
    w_scales = channel_scales(w, out_c)
    if len(w_scales) != out_c:
        return None
    w_data = np.ascontiguousarray(w.data.reshape(k_h, k_w, out_c).transpose(2, 0, 1)).reshape(out_c, k_h, k_w, 1)
    return conv_kernel(graph, op, x, y, w_data, w_scales, bias, f"x{out_c} ")


def s16_conv_layout(rows: np.ndarray, groups: int) -> tuple[np.ndarray, int, int]:
    """ec_conv2d_s16's weights (ec_conv.h) from [out_c][taps] int8 rows in TFLite's order:
    (flat int8 array, oc_pad, k_pad)."""
    out_c, taps = rows.shape
    fpg = out_c // groups
    oc_pad, k_pad = -(-fpg // 4) * 4, -(-taps // 4) * 4
    wp = np.zeros((groups, oc_pad, k_pad), dtype=np.int8)
    wp[:, :fpg, :taps] = rows.reshape(groups, fpg, taps)
    # group, block, lane, quad, slot -> group, block, quad, lane, slot (quads stored k0, k2, k1, k3)
    blocks = wp.reshape(groups, oc_pad // 4, 4, k_pad // 4, 4)[..., [0, 2, 1, 3]].transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(blocks).reshape(-1), oc_pad, k_pad


def lower_conv2d_s16(graph: Graph, op: Op) -> Kernel:
    """CONV_2D 16x8 (int16 activations, int8 weights, int64 or int32 bias): ec_conv2d_s16, TFLite's
    reference ConvPerChannel for int16 (what TFLite Micro runs), grouped and dilated included."""
    x, y = s16_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=0, bias_dtypes=("int64", "int32"))
    out_c, k_h, k_w, f_in_c = check_conv_shapes(graph, op, x, y, w)
    b, in_h, in_w, in_c = x.shape
    geometry = spatial_geometry(graph, op, x, y, k_h, k_w)
    w_scales = channel_scales(w, out_c)
    mult, shift = conv_multipliers(x.quant.s, w_scales, y.quant.s)
    act_min, act_max = fused_activation(graph, op, y)
    acc32 = s16_accumulator_is_int32(graph, op)
    rows = w.data.reshape(out_c, -1)
    groups = in_c // f_in_c
    weights, oc_pad, k_pad = s16_conv_layout(rows, groups)
    require_int32(graph, op, **{"padded weights": weights.size})
    pairs = s16_requant_pairs(graph, op, mult, shift, acc32)
    _, out_h, out_w, _ = y.shape
    return Kernel(
        # ec_conv2d_s16_params_t's fields; like the s8 one above, but kept apart: each C params struct has its own
        # fields, which this dict must match one for one
        func="ec_conv2d_s16",
        unit="ec_conv",
        params_type="ec_conv2d_s16_params_t",
        params=dict(
            batches=b,
            in_h=in_h,
            in_w=in_w,
            in_c=in_c,
            out_h=out_h,
            out_w=out_w,
            out_c=out_c,
            k_h=k_h,
            k_w=k_w,
            filter_in_c=f_in_c,
            **geometry,
            act_min=act_min,
            act_max=act_max,
            k_pad=k_pad,
            oc_pad=oc_pad,
            sum32=int(s16_sum_fits_int32(np.abs(rows.astype(np.int64)).sum(axis=1))),
            acc32=int(acc32),
            weights=CArray("int8_t", weights, "weights", program_memory=True),
            bias=s16_bias_field(bias, pairs, acc32),
            requant=CArray("int32_t", pairs, "multiplier", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        scratch_bytes=2 * k_pad,
        macs=b * out_h * out_w * out_c * k_h * k_w * f_in_c,
        summary=f"{k_h}x{k_w}/{geometry['stride_h']},{geometry['stride_w']} "
        f"{'SAME' if op.options.get('padding', 0) == 0 else 'VALID'} 16x8 {in_c}->{out_c}"
        + (f" groups {groups}" if groups > 1 else "")
        + (f" dil {geometry['dil_h']},{geometry['dil_w']}" if max(geometry["dil_h"], geometry["dil_w"]) > 1 else ""),
    )
