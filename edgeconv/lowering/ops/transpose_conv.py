"""TRANSPOSE_CONV (Keras Conv2DTranspose), int8 and 16x8, lowered to ec_transpose_conv_s8 /
ec_transpose_conv_s16 (c_runtime/ec_transpose_conv.c).

TFLite Micro (transpose_conv.cc, reference_integer_ops::TransposeConv) scatters each input
pixel through the kernel into an int32 (int64 for 16x8) scratch buffer the size of the whole
output, then adds the bias and requantizes per channel. edgeconv gathers: each output pixel
sums the taps that land on it. The same products in another order give the same sum as long
as no partial sum leaves the accumulator's range, which is proven here from the real weights
and bias, per output channel, over the taps one output pixel can receive (those with
k_y = r_y mod stride_h, k_x = r_x mod stride_w for some residues): int8 accumulates in
int32 (|bias| + 256 * sum|w|: the dot products and the input zero point's per-tap weight
sums), 16x8 in int64 and must stay below 2^47 for TFLite's 64-bit requantization
(|bias| + 2^15 * sum|w|).

What TFLite Micro reads, and edgeconv with it:
- The output's height and width are the output tensor's (the output_shape input is not read
  by TFLite Micro; TFLite resizes the output to it): the two must agree.
- Padding is TFLite's ComputePaddingHeightWidth run on the OUTPUT size (as if a forward
  convolution mapped the output to the input), with TFLite Micro's checked variant: when
  either axis' "output" size would be negative (VALID, kernel much larger than the output)
  both paddings are 0.
- Multipliers per channel as PopulateConvolutionQuantizationParams (double products), the
  fused activation as CalculateActivationRangeQuantized.
- 16x8: bias int64, or int16 (TFLite Micro widens it; TFLite's reference refuses it), zero
  points 0 (TFLite's reference requires it; TFLite Micro ignores them).
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, UnsupportedOpError
from edgeconv.lowering.ops.base import CArray, Kernel, fail, fused_activation, lowering, require_dtype, require_quant
from edgeconv.lowering.ops.mac import (
    MAX_S64_SHIFT,
    S64_ACC_LIMIT,
    conv_multipliers,
    multiplier_fields,
    refuse_int32_overflow,
    s16_quads,
    s16_sum_fits_int32,
)
from edgeconv.lowering.ops.ranges import check_requantize, require_int32, require_tflite_int16


def tflite_out_size(padding: int, image: int, k: int, stride: int) -> int | None:
    """ComputeOutSizeChecked (TFLite Micro's padding.h, dilation 1): None on its error."""
    if padding not in (0, 1) or image < 0 or k <= 0 or stride <= 0:
        return None
    if padding == 0:
        value = (image + stride - 1) // stride
    else:
        num = image + stride - k
        value = abs(num) // stride * (1 if num >= 0 else -1)  # C++ division truncates
    return None if value < 0 else value


def transpose_conv_padding(
    padding: int, out_h: int, out_w: int, k_h: int, k_w: int, stride_h: int, stride_w: int
) -> tuple[int, int]:
    """TFLite Micro's ComputePaddingHeightWidth(stride, dilation 1, out_h, out_w, k_h, k_w):
    the leading padding of each axis; (0, 0) if either axis' size check fails."""
    sizes = [tflite_out_size(padding, out_w, k_w, stride_w), tflite_out_size(padding, out_h, k_h, stride_h)]
    if any(s is None for s in sizes):
        return 0, 0
    pw_out, ph_out = sizes
    pad_h = max((ph_out - 1) * stride_h + k_h - out_h, 0) // 2
    pad_w = max((pw_out - 1) * stride_w + k_w - out_w, 0) // 2
    return pad_h, pad_w


def residue_tap_sums(abs_tap: np.ndarray, stride_h: int, stride_w: int) -> np.ndarray:
    """abs_tap[oc, ky, kx] summed over the taps one output pixel can receive, maximized over
    the stride residues: an upper bound of what reaches one output, per output channel."""
    out_c, k_h, k_w = abs_tap.shape
    best = np.zeros(out_c, dtype=np.int64)
    for ry in range(min(stride_h, k_h)):
        for rx in range(min(stride_w, k_w)):
            best = np.maximum(best, abs_tap[:, ry::stride_h, rx::stride_w].sum(axis=(1, 2)))
    return best


@lowering("TRANSPOSE_CONV")
def lower_transpose_conv(graph: Graph, op: Op) -> Kernel:
    if len(op.inputs) < 3:
        raise fail(graph, op, f"has {len(op.inputs)} inputs; TRANSPOSE_CONV takes 3 or 4")
    shape_t, w, x = (graph.tensors[i] for i in op.inputs[:3])
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, "int8", "int16")
    if y.dtype != x.dtype:
        raise fail(graph, op, f"input type {x.dtype.upper()} and output type {y.dtype.upper()} differ")
    s16 = x.dtype == "int16"
    xq, yq = require_quant(graph, op, x), require_quant(graph, op, y)

    # Weights [out_c, k_h, k_w, in_c], int8, constant, per tensor or per output channel.
    require_dtype(graph, op, w, "int8")
    if w.data is None:
        raise UnsupportedOpError(f"{op.describe(graph)}: weights {w.describe()} must be constant")
    wq = require_quant(graph, op, w, per_tensor=False)
    if any(int(z) != 0 for z in wq.zero_point):
        raise UnsupportedOpError(f"{op.describe(graph)}: weights {w.describe()} have a nonzero zero point")
    if len(w.shape) != 4 or len(x.shape) != 4 or len(y.shape) != 4:
        raise fail(
            graph, op, f"needs 4-D input, weights and output, got {list(x.shape)}, {list(w.shape)}, {list(y.shape)}"
        )
    out_c, k_h, k_w, w_in_c = (int(d) for d in w.shape)
    batches, in_h, in_w, in_c = (int(d) for d in x.shape)
    y_b, out_h, out_w, y_c = (int(d) for d in y.shape)
    if wq.per_channel and (wq.axis != 0 or len(wq.scale) != out_c):
        raise UnsupportedOpError(
            f"{op.describe(graph)}: weights {w.describe()} must be quantized per output "
            f"channel (axis 0, {out_c} scales), not axis {wq.axis} with {len(wq.scale)}"
        )
    if w_in_c != in_c:
        raise fail(graph, op, f"weights {w.describe()} have {w_in_c} input channels, the input has {in_c}")
    if y_c != out_c or y_b != batches:
        raise fail(
            graph, op, f"output {list(y.shape)} does not match batch {batches} and the weights' {out_c} output channels"
        )

    # The output shape input: TFLite sizes the output from it, TFLite Micro from the tensor.
    if shape_t.data is None:
        raise UnsupportedOpError(f"{op.describe(graph)}: output_shape {shape_t.describe()} must be constant")
    wanted = [int(v) for v in np.asarray(shape_t.data).reshape(-1)]
    if wanted != [int(d) for d in y.shape]:
        raise fail(graph, op, f"output shape {list(y.shape)} differs from the output_shape input {wanted}")

    # Bias: int32 for int8, int64 (or int16, widened as TFLite Micro does) for 16x8.
    bias = None
    if len(op.inputs) > 3 and op.inputs[3] >= 0:
        b = graph.tensors[op.inputs[3]]
        require_dtype(graph, op, b, *(("int64", "int16") if s16 else ("int32",)))
        if b.data is None:
            raise UnsupportedOpError(f"{op.describe(graph)}: bias {b.describe()} must be constant")
        if b.size != out_c:
            raise fail(
                graph, op, f"bias {b.describe()} has {b.size} values but the weights have {out_c} output channels"
            )
        bias = np.asarray(b.data).reshape(-1).astype(np.int64)

    if s16 and (xq.zp != 0 or yq.zp != 0):
        raise fail(
            graph, op, f"16x8 needs input and output zero points 0 (TFLite requires it), got {xq.zp} and {yq.zp}"
        )

    stride_h, stride_w = int(op.options.get("stride_h", 0)), int(op.options.get("stride_w", 0))
    padding = int(op.options.get("padding", 0))
    if stride_h < 1 or stride_w < 1:
        raise fail(graph, op, f"has stride ({stride_h},{stride_w}); TRANSPOSE_CONV needs at least 1")
    if min(k_h, k_w, in_h, in_w, out_h, out_w) < 1 or in_c < 1 or out_c < 1:
        raise fail(graph, op, "has an empty input, kernel or output")
    pad_h, pad_w = transpose_conv_padding(padding, out_h, out_w, k_h, k_w, stride_h, stride_w)
    # TFLite's ConvParams hold strides and paddings in int16_t (larger ones compute another op).
    require_tflite_int16(graph, op, stride_h=stride_h, stride_w=stride_w, padding_h=pad_h, padding_w=pad_w)
    # TFLite's scatter forms in * stride - pad + k in int: refuse what would overflow there.
    require_int32(
        graph,
        op,
        **{
            "(in_h - 1) * stride_h + k_h": (in_h - 1) * stride_h + k_h,
            "(in_w - 1) * stride_w + k_w": (in_w - 1) * stride_w + k_w,
        },
    )

    act_min, act_max = fused_activation(graph, op, y)
    mult, shift = conv_multipliers(xq.s, tuple(wq.scale), yq.s)
    if len(mult) == 1:
        mult, shift = mult * out_c, shift * out_c
    weights = np.asarray(w.data, dtype=np.int8)
    abs_tap = np.abs(weights.astype(np.int64)).sum(axis=3)  # [out_c, k_h, k_w]
    reach = residue_tap_sums(abs_tap, stride_h, stride_w)  # sum|w| reaching one output
    # Python integers: |INT64_MIN| and a huge int64 bias plus the weights' reach leave int64.
    bias_abs = np.array([abs(int(v)) for v in bias] if bias is not None else [0] * out_c, dtype=object)
    reach = reach.astype(object)

    # ec_transpose_conv_params_t's shared fields; like conv.py's and depthwise.py's, but kept apart: each C params
    # struct has its own fields, which this dict must match one for one
    params = dict(
        batches=batches,
        in_h=in_h,
        in_w=in_w,
        in_c=in_c,
        out_h=out_h,
        out_w=out_w,
        out_c=out_c,
        k_h=k_h,
        k_w=k_w,
        stride_h=stride_h,
        stride_w=stride_w,
        pad_h=pad_h,
        pad_w=pad_w,
        output_zp=int(yq.zp),
        act_min=act_min,
        act_max=act_max,
    )
    if s16:
        bound = bias_abs + (1 << 15) * reach
        worst = int(bound.max())
        if worst >= S64_ACC_LIMIT:
            ch = int(np.argmax(bound))
            raise fail(
                graph,
                op,
                f"its int64 accumulator could reach {worst:,} at output channel {ch}: TFLite's "
                "64-bit requantization assumes less than 2^47 (weights or bias too large)",
            )
        if max(shift) > MAX_S64_SHIFT:
            raise fail(
                graph,
                op,
                f"its scales need a requantization left shift of {max(shift)}; TFLite's "
                f"64-bit requantization takes at most {MAX_S64_SHIFT}",
            )
        params["bias64"] = CArray("int64_t", bias, "bias", program_memory=True) if bias is not None else None
        params["bias"] = params["zp_sums"] = None  # int8 only
        # each tap's weights in the quads ec_dot_s16x8_64 reads, padded to a multiple of 4
        params["weights"] = CArray("int8_t", s16_quads(weights.reshape(-1, in_c)), "weights", program_memory=True)
        params["tap_stride"] = -(-in_c // 4) * 4
        # one tap's partial sums fit int32 (then the kernel sums each tap in int32 and widens)
        params["tap_sum32"] = int(s16_sum_fits_int32(abs_tap))
    else:
        zp = int(xq.zp)
        # Each tap adds x . w and subtracts zp * sum(w): both at most 128 * sum|w| in magnitude.
        bound = bias_abs + 256 * reach
        refuse_int32_overflow(graph, op, bound)
        check_requantize(graph, op, bound.tolist(), mult, shift, int(yq.zp))
        params["weights"] = CArray("int8_t", weights, "weights", program_memory=True)
        params["tap_stride"] = in_c
        params["tap_sum32"] = 0  # 16x8 only
        params["bias64"] = None
        params["bias"] = (
            CArray("int32_t", bias.astype(np.int32), "bias", program_memory=True) if bias is not None else None
        )
        params["zp_sums"] = None
        if zp != 0:
            params["zp_sums"] = CArray(
                "int32_t", zp * weights.astype(np.int64).sum(axis=3).astype(np.int32), "zp_sums", program_memory=True
            )
    params.update(multiplier_fields(graph, op, list(mult), list(shift)))
    suffix = "s16" if s16 else "s8"
    taps = (-(-k_h // stride_h)) * (-(-k_w // stride_w))
    return Kernel(
        func=f"ec_transpose_conv_{suffix}",
        unit="ec_transpose_conv",
        params_type="ec_transpose_conv_params_t",
        params=params,
        inputs=[x.index],
        outputs=[y.index],
        macs=batches * in_h * in_w * in_c * k_h * k_w * out_c,
        summary=f"{k_h}x{k_w}/{stride_h} {in_c}->{out_c} ({taps} taps per output)",
    )
