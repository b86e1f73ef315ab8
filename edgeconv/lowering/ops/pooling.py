"""AVERAGE_POOL_2D and MAX_POOL_2D (int8 and int16): no requantization, as in TFLite.

TFLite Micro's Prepare requires the output's scale within 1e-6 of the input's (a float32
difference) and the same zero point, for both types; TFLite's reference only DCHECKs it (and
then ignores the output's quantization). edgeconv refuses as TFLite Micro does.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import (
    DTYPE_SUFFIX,
    Kernel,
    conv_output_size,
    fail,
    fused_activation,
    lowering,
    quant_io,
    same_padding,
)
from edgeconv.lowering.ops.ranges import INT32_MAX, check_spatial_indices, require_tflite_int16

# The largest window count with 128 * count + count // 2 <= INT32_MAX.
AVG_POOL_MAX_WINDOW = (2 * INT32_MAX + 1) // 257
# For int16: 32768 * count + count // 2 <= INT32_MAX.
AVG_POOL_MAX_WINDOW_S16 = (2 * INT32_MAX + 1) // 65537


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D")
def lower_pool(graph: Graph, op: Op) -> Kernel:
    x, y, xq, yq = quant_io(graph, op)
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise fail(graph, op, f"expects 4-D input and output, got {list(x.shape)} -> {list(y.shape)}")
    b, in_h, in_w, c = x.shape
    if y.shape[0] != b or y.shape[3] != c:
        raise fail(graph, op, f"output shape {list(y.shape)} does not match input {list(x.shape)}")
    # Like mac.py's conv window options, but the window comes from options, not a filter tensor, and has no dilation
    k_h, k_w = int(op.options.get("filter_height", 1)), int(op.options.get("filter_width", 1))
    sh, sw = int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1))
    if min(k_h, k_w, sh, sw) < 1:
        raise fail(graph, op, f"has filter {k_h}x{k_w} or stride ({sh},{sw}) below 1")
    padding = int(op.options.get("padding", 0))
    _, out_h, out_w, _ = y.shape
    if (conv_output_size(padding, in_h, k_h, sh, 1), conv_output_size(padding, in_w, k_w, sw, 1)) != (out_h, out_w):
        raise fail(graph, op, f"output is {out_h}x{out_w}, which the input, filter and stride do not give")
    # pooling_common.cc: std::abs(input scale - output scale) in float32, at most 1e-6.
    if not float(np.abs(np.float32(xq.s) - np.float32(yq.s))) <= 1.0e-6 or xq.zp != yq.zp:
        raise fail(
            graph,
            op,
            f"input quantization (scale {float(xq.s):g}, zero point {xq.zp}) and output "
            f"quantization (scale {float(yq.s):g}, zero point {yq.zp}) differ; TFLite Micro "
            "requires them equal",
        )
    act_min, act_max = fused_activation(graph, op, y)
    is_avg = op.opcode == "AVERAGE_POOL_2D"
    pad_h = same_padding(in_h, k_h, sh, 1, out_h) if padding == 0 else 0
    pad_w = same_padding(in_w, k_w, sw, 1, out_w) if padding == 0 else 0
    require_tflite_int16(graph, op, padding_h=pad_h, padding_w=pad_w)
    check_spatial_indices(graph, op, in_h, in_w, out_h, out_w, k_h, k_w, sh, sw, 1, 1, pad_h, pad_w)
    if is_avg:
        # ec_avg_pool_s8/_s16 sum a window of values in an int32 and round the sum half away
        # from zero with (sum +- count / 2) / count: |sum| + count / 2 <= 128.5 * count (int8)
        # or 32768.5 * count (int16) must fit. (TFLite's own int32 sum overflows beyond that.)
        # The window holds at most min(k, in) positions per axis.
        count = min(k_h, in_h) * min(k_w, in_w)
        limit = AVG_POOL_MAX_WINDOW_S16 if x.dtype == "int16" else AVG_POOL_MAX_WINDOW
        if count > limit:
            raise fail(
                graph,
                op,
                f"averages windows of up to {count:,} values, whose int32 sum could overflow "
                f"(at most {limit:,} {x.dtype} values fit)",
            )
    # ec_pool_params_t's fields; like resize.py's 4-D geometry, but kept apart: each C params struct has its own fields,
    # which this dict must match one for one
    return Kernel(
        func=f"ec_{'avg' if is_avg else 'max'}_pool_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_pooling",
        params_type="ec_pool_params_t",
        params=dict(
            batches=b,
            in_h=in_h,
            in_w=in_w,
            channels=c,
            out_h=out_h,
            out_w=out_w,
            k_h=k_h,
            k_w=k_w,
            stride_h=sh,
            stride_w=sw,
            pad_h=pad_h,
            pad_w=pad_w,
            act_min=act_min,
            act_max=act_max,
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=b * out_h * out_w * c * k_h * k_w if is_avg else 0,
        summary=f"{k_h}x{k_w}/{sh},{sw} {'SAME' if padding == 0 else 'VALID'}",
    )
