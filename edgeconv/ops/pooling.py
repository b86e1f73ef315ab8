"""AVERAGE_POOL_2D and MAX_POOL_2D (int8): no requantization, as in TFLite."""

from __future__ import annotations

from ..ir import Graph, Op
from .base import int8_io, Kernel, conv_output_size, fail, fused_activation_range, lowering, same_padding
from .ranges import INT32_MAX, check_spatial_indices, require_tflite_int16


# The largest window count with 128 * count + count // 2 <= INT32_MAX.
AVG_POOL_MAX_WINDOW = (2 * INT32_MAX + 1) // 257


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D")
def lower_pool(graph: Graph, op: Op) -> Kernel:
    x, y, xq, yq = int8_io(graph, op)
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise fail(graph, op, f"expects 4-D input and output, got {list(x.shape)} -> {list(y.shape)}")
    b, in_h, in_w, c = x.shape
    if y.shape[0] != b or y.shape[3] != c:
        raise fail(graph, op, f"output shape {list(y.shape)} does not match input {list(x.shape)}")
    k_h, k_w = int(op.options.get("filter_height", 1)), int(op.options.get("filter_width", 1))
    sh, sw = int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1))
    if min(k_h, k_w, sh, sw) < 1:
        raise fail(graph, op, f"has filter {k_h}x{k_w} or stride ({sh},{sw}) below 1")
    padding = int(op.options.get("padding", 0))
    _, out_h, out_w, _ = y.shape
    if (conv_output_size(padding, in_h, k_h, sh, 1), conv_output_size(padding, in_w, k_w, sw, 1)) != (out_h, out_w):
        raise fail(graph, op, f"output is {out_h}x{out_w}, which the input, filter and stride do not give")
    act = int(op.options.get("fused_activation_function", 0))
    if act not in (0, 1, 2, 3):
        raise fail(graph, op, f"fused activation {act} is not supported on int8")
    act_min, act_max = fused_activation_range(graph, op, act, y)
    is_avg = op.opcode == "AVERAGE_POOL_2D"
    pad_h = same_padding(in_h, k_h, sh, 1, out_h) if padding == 0 else 0
    pad_w = same_padding(in_w, k_w, sw, 1, out_w) if padding == 0 else 0
    require_tflite_int16(graph, op, padding_h=pad_h, padding_w=pad_w)
    check_spatial_indices(graph, op, in_h, in_w, out_h, out_w, k_h, k_w, sh, sw, 1, 1, pad_h, pad_w)
    if is_avg:
        # ec_avg_pool_s8 sums a window of int8 values in an int32 and rounds the sum half away
        # from zero with (sum +- count / 2) / count: |sum| + count / 2 <= 128.5 * count must fit.
        # (TFLite's own int32 sum overflows beyond that.) The window holds at most
        # min(k, in) positions per axis.
        count = min(k_h, in_h) * min(k_w, in_w)
        if count > AVG_POOL_MAX_WINDOW:
            raise fail(graph, op, f"averages windows of up to {count:,} values, whose int32 sum could overflow "
                                  f"(at most {AVG_POOL_MAX_WINDOW:,} values fit)")
    return Kernel(
        func="ec_avg_pool_s8" if is_avg else "ec_max_pool_s8",
        unit="ec_pooling",
        params_type="ec_pool_params_t",
        params=dict(
            batches=b, in_h=in_h, in_w=in_w, channels=c, out_h=out_h, out_w=out_w, k_h=k_h, k_w=k_w,
            stride_h=sh, stride_w=sw,
            pad_h=pad_h, pad_w=pad_w,
            act_min=act_min, act_max=act_max,
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=b * out_h * out_w * c * k_h * k_w if is_avg else 0,
        summary=f"{k_h}x{k_w}/{sh},{sw} {'SAME' if padding == 0 else 'VALID'}",
    )
