"""What CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED share (their lowerings are conv.py,
depthwise.py and fully_connected.py).

All three fold the input zero point into the bias at compile time and carry one Q31 multiplier
and shift per output channel (or one for the whole tensor), computed exactly as TFLite Micro's
Prepare computes them.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import (
    CArray,
    conv_output_size,
    fail,
    quant_io,
    require_dtype,
    require_quant,
    same_padding,
)
from edgeconv.lowering.ops.ranges import check_spatial_indices, require_tflite_int16
from quantize.fixedpoint import quantize_multiplier


def weights_and_bias(graph: Graph, op: Op, channel_axis: int, bias_dtypes: tuple[str, ...] = ("int32",)):
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        raise fail(graph, op, "has no weights input")
    w = graph.tensors[op.inputs[1]]
    if w.data is None:
        raise UnsupportedOpError(f"{op.describe(graph)}: weights {w.describe()} must be constant")
    require_dtype(graph, op, w, "int8")
    wq = require_quant(graph, op, w, per_tensor=False)
    if any(z != 0 for z in wq.zero_point):
        raise UnsupportedOpError(f"{op.describe(graph)}: weights {w.describe()} have a nonzero zero point")
    if wq.per_channel and wq.axis != channel_axis:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: weights {w.describe()} are quantized along axis {wq.axis}, expected {channel_axis}"
        )
    bias = None
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = graph.tensors[op.inputs[2]]
        if b.data is None:
            raise UnsupportedOpError(f"{op.describe(graph)}: bias {b.describe()} must be constant")
        require_dtype(graph, op, b, *bias_dtypes)
        bias = b.data.reshape(-1).astype(np.int64)
    return w, bias


def fold_bias(bias: np.ndarray | None, weight_sums: np.ndarray, input_zp: int) -> np.ndarray:
    """bias' = bias - input_zp * sum(w): TFLite's sum((x - zp) * w) + bias, rearranged.

    Computed modulo 2^32 so that it matches TFLite's int32 accumulator bit for bit."""
    total = (bias if bias is not None else 0) - int(input_zp) * weight_sums.astype(np.int64)
    return ((np.asarray(total, dtype=np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


INT32_MAX = (1 << 31) - 1
S64_ACC_LIMIT = 1 << 47  # TFLite's 64-bit MultiplyByQuantizedMultiplier assumes |x| < 2^47


def accumulator_bounds(folded_bias: np.ndarray, abs_weight_sums: np.ndarray) -> np.ndarray:
    """Per output channel, the largest |partial sum| the kernel's accumulator can hold:
    |bias'| + 128 * sum|w| (inputs, and the input zero point a padded tap reads, are int8;
    the reader refuses zero points outside [-128, 127])."""
    return np.abs(folded_bias.astype(np.int64)) + 128 * abs_weight_sums.astype(np.int64)


def check_accumulator(graph: Graph, op: Op, folded_bias: np.ndarray, abs_weight_sums: np.ndarray) -> int:
    """Prove at compile time that the kernel's int32 accumulator cannot overflow.

    The kernels add int8 x int8 products to the folded bias; every partial sum is bounded by
    accumulator_bounds. This also bounds CONV_2D's sum of the weights that met padding
    (|sum| <= sum|w|) and its product with the input zero point (<= 128 * sum|w|). Returns
    the worst case; refuses the layer if it exceeds INT32_MAX, because signed overflow in C
    is undefined behaviour."""
    return refuse_int32_overflow(graph, op, accumulator_bounds(folded_bias, abs_weight_sums))


def refuse_int32_overflow(graph: Graph, op: Op, bound: np.ndarray) -> int:
    """The largest of the per-output-channel accumulator bounds (0 for none); refuses the
    layer, naming the channel, if it exceeds INT32_MAX. Used by check_accumulator and by
    TRANSPOSE_CONV, whose bound counts the taps that reach one output."""
    worst = int(bound.max()) if bound.size else 0
    if worst > INT32_MAX:
        channel = int(np.argmax(bound))
        raise fail(
            graph,
            op,
            f"its int32 accumulator could overflow: worst case {worst:,} at output channel "
            f"{channel} exceeds 2^31 - 1 (weights or bias too large for int8 arithmetic)",
        )
    return worst


def channel_scales(w: Tensor, out_c: int) -> tuple[float, ...]:
    """The weights' scale of each of out_c output channels: per-channel scales as stored, a
    per-tensor scale repeated."""
    return tuple(w.quant.scale) if w.quant.per_channel else (w.quant.s,) * out_c


def conv_multipliers(in_scale: float, w_scales: tuple[float, ...], out_scale: float):
    """PopulateConvolutionQuantizationParams: double(in) * double(w) / double(out) per channel."""
    pairs = [quantize_multiplier(float(in_scale) * float(s) / float(out_scale)) for s in w_scales]
    return [m for m, _ in pairs], [s for _, s in pairs]


def spatial_geometry(graph: Graph, op: Op, x: Tensor, y: Tensor, k_h: int, k_w: int) -> dict:
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise fail(graph, op, f"expects 4-D input and output, got {list(x.shape)} -> {list(y.shape)}")
    # Like pooling.py's window options, but with dilation and a filter tensor: kept apart because the options differ
    sh, sw = int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1))
    dh, dw = int(op.options.get("dilation_h_factor", 1)), int(op.options.get("dilation_w_factor", 1))
    if min(sh, sw, dh, dw) < 1:
        raise fail(graph, op, f"has stride ({sh},{sw}) or dilation ({dh},{dw}) below 1")
    padding = int(op.options.get("padding", 0))
    _, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = y.shape
    eh = conv_output_size(padding, in_h, k_h, sh, dh)
    ew = conv_output_size(padding, in_w, k_w, sw, dw)
    if (eh, ew) != (out_h, out_w):
        raise fail(graph, op, f"output is {out_h}x{out_w} but the input, kernel and stride give {eh}x{ew}")
    pad_h = same_padding(in_h, k_h, sh, dh, out_h) if padding == 0 else 0
    pad_w = same_padding(in_w, k_w, sw, dw, out_w) if padding == 0 else 0
    require_tflite_int16(
        graph,
        op,
        **{"stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw, "padding_h": pad_h, "padding_w": pad_w},
    )
    check_spatial_indices(graph, op, in_h, in_w, out_h, out_w, k_h, k_w, sh, sw, dh, dw, pad_h, pad_w)
    return dict(stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw, pad_h=pad_h, pad_w=pad_w)


def multiplier_fields(graph: Graph, op: Op, mult: list[int], shift: list[int]) -> dict:
    if max(shift) > 30:
        # The requantization shifts left by this much: 31 or more would shift out every bit
        # (and is undefined in C); no sane scales produce it.
        raise fail(
            graph,
            op,
            f"its scales give a requantization multiplier of 2^{max(shift)} or more; "
            "the input, weight and output scales do not fit together",
        )
    per_channel = len(set(zip(mult, shift))) > 1
    if not per_channel:
        mult, shift = mult[:1], shift[:1]
    return dict(
        per_channel=int(per_channel),
        multiplier=CArray("int32_t", np.array(mult, dtype=np.int32), "multiplier", program_memory=True),
        shift=CArray("int32_t", np.array(shift, dtype=np.int32), "shift", program_memory=True),
    )


# ---------------------------------------------------------------------------------------------
# 16x8: int16 activations, int8 weights (TFLite's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_
# WEIGHTS_INT8). TFLite Micro runs the reference kernels' int16 overloads: the products summed
# in an int64 accumulator (int32 where the bias is int32, or absent with quantized_bias_type
# INT32), plus the bias, then MultiplyByQuantizedMultiplier of that accumulator's width
# (c_runtime/ec_dot.h ec_mac16_output).

TENSOR_TYPE_INT32 = 2  # tflite.TensorType.INT32: the options' quantized_bias_type


def s16_io(graph: Graph, op: Op):
    """The int16 input and output of a 16x8 MAC op, both with zero point 0: TFLite's Prepare
    requires it (TFLite Micro's int16 convolutions ignore the zero points, so no other value
    has one meaning)."""
    x, y, xq, yq = quant_io(graph, op, ("int16",))
    for t, q in ((x, xq), (y, yq)):
        if q.zp != 0:
            raise fail(graph, op, f"{t.describe()} has zero point {q.zp}; TFLite requires 0 for int16 activations")
    return x, y


def s16_accumulator_is_int32(graph: Graph, op: Op) -> bool:
    """TFLite Micro's requires_int32_accum: an INT32 bias, or none and quantized_bias_type INT32."""
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        return graph.tensors[op.inputs[2]].dtype == "int32"
    return int(op.options.get("quantized_bias_type", 0)) == TENSOR_TYPE_INT32


S16_PRODUCT_MAX = 1 << 15  # |x| <= 2^15 for int16 x: a product's magnitude is at most 2^15 * |w|


def s16_sum_fits_int32(abs_weight_sums: np.ndarray) -> bool:
    """Whether every partial sum of every channel's products x * w fits int32: any such sum
    (in any order or pairing, SMLAD's included) is a subset sum of the channel's products, so
    |sum| <= 2^15 * sum|w|. Then the kernels may sum in int32 and widen exactly (sum32)."""
    worst = int(abs_weight_sums.max()) if abs_weight_sums.size else 0
    return S16_PRODUCT_MAX * worst <= INT32_MAX


MAX_S64_SHIFT = 14  # 15 - shift >= 1: TFLite's 64-bit requantization rounds with 2^(14 - shift)


def reduce_multiplier_q15(multiplier: int) -> int:
    """TFLite's 64-bit MultiplyByQuantizedMultiplier's Q15 multiplier (ec_reduce_multiplier_q15)."""
    return (multiplier + (1 << 15)) >> 16 if multiplier < 0x7FFF0000 else 0x7FFF


def s16_requant_pairs(graph: Graph, op: Op, mult: list[int], shift: list[int], acc32: bool) -> np.ndarray:
    """Per channel the pair ec_mac16_output reads: (multiplier, shift) for the int32
    accumulator (ec_requantize: shifts above 30 refused, as for int8), (Q15 multiplier,
    15 - shift) for the int64 one, whose rounding term 2^(14 - shift) needs shift <= 14
    (TFLite asserts shift < 8; larger ratios of scales mean nothing)."""
    if acc32:
        multiplier_fields(graph, op, mult, shift)  # its checks
        pairs = [(m, s) for m, s in zip(mult, shift)]
    else:
        if max(shift) > MAX_S64_SHIFT:
            raise fail(
                graph,
                op,
                f"its scales give a requantization multiplier of 2^{max(shift)} or more; "
                "the input, weight and output scales do not fit together",
            )
        pairs = [(reduce_multiplier_q15(m), 15 - s) for m, s in zip(mult, shift)]
    return np.asarray(pairs, dtype=np.int64).astype(np.int32).reshape(-1)


def s16_quads(rows: np.ndarray) -> np.ndarray:
    """[R][K] int8 rows padded with zeros to a multiple of 4 and stored in quads (w0, w2, w1, w3)
    (c_runtime/ec_dot.h EC_S16_SLOT): [R][K_pad], flattened. (ec_dot_s16x8's order; TRANSPOSE_CONV
    uses it.)"""
    r, k = rows.shape
    k_pad = -(-k // 4) * 4
    padded = np.zeros((r, k_pad), dtype=np.int8)
    padded[:, :k] = rows
    return np.ascontiguousarray(padded.reshape(r, k_pad // 4, 4)[:, :, [0, 2, 1, 3]]).reshape(-1)


def s16_bias_field(bias: np.ndarray | None, pairs: np.ndarray, acc32: bool) -> CArray | None:
    """The bias array ec_mac16_output reads (c_runtime/ec_dot.h), per channel: with the int32
    accumulator the model's bias (or NULL); with the int64 one the folded bias of
    ec_requantize_s64_folded, bias * rm + 2^(total_shift - 1) modulo 2^64 as the C side's
    uint64_t arithmetic, so that sum * rm + folded equals TFLite's (sum + bias) * rm + round in
    every bit. pairs: the per-channel (rm, total_shift) of s16_requant_pairs."""
    if acc32:
        return CArray("int64_t", bias, "bias", program_memory=True) if bias is not None else None
    rm, total = pairs.reshape(-1, 2).astype(np.int64).T
    b = bias if bias is not None else np.zeros(rm.size, dtype=np.int64)
    folded = [
        ((int(v) * int(m) + (1 << (int(t) - 1)) + (1 << 63)) % (1 << 64)) - (1 << 63)
        for v, m, t in zip(b.tolist(), rm.tolist(), total.tolist())
    ]
    return CArray("int64_t", np.array(folded, dtype=np.int64), "bias", program_memory=True)
