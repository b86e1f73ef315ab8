"""DEPTHWISE_CONV_2D, lowered to ec_depthwise_conv2d_s8 (c_runtime/ec_depthwise_conv.c)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from .base import CArray, Kernel, fail, int8_io, lowering
from .mac import (
    accumulator_bounds,
    check_accumulator,
    conv_multipliers,
    fold_bias,
    mac_activation,
    multiplier_fields,
    spatial_geometry,
    weights_and_bias,
)
from .ranges import check_requantize, require_tflite_int16


@lowering("DEPTHWISE_CONV_2D")
def lower_depthwise_conv2d(graph: Graph, op: Op) -> Kernel:
    x, y, _, _ = int8_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=3)
    if len(w.shape) != 4 or w.shape[0] != 1:
        raise fail(graph, op, f"weights {w.describe()} have shape {list(w.shape)}, expected [1, kh, kw, C]")
    _, k_h, k_w, out_c = w.shape
    b, in_h, in_w, in_c = x.shape
    if y.shape[3] != out_c or out_c % in_c:
        raise fail(graph, op, f"output channels {y.shape[3]} / weights {list(w.shape)} do not fit input channels {in_c}")
    if y.shape[0] != b:
        raise fail(graph, op, f"output batch {y.shape[0]} differs from the input's {b}")
    multiplier = out_c // in_c
    require_tflite_int16(graph, op, **{"depth multiplier": multiplier})
    geometry = spatial_geometry(graph, op, x, y, k_h, k_w)
    w_scales = w.quant.scale if w.quant.per_channel else (w.quant.s,) * out_c
    mult, shift = conv_multipliers(x.quant.s, w_scales, y.quant.s)
    act_min, act_max = mac_activation(graph, op, y)
    folded = fold_bias(bias, w.data.reshape(-1, out_c).sum(axis=0, dtype=np.int64), x.quant.zp)
    abs_sums = np.abs(w.data.astype(np.int64)).reshape(-1, out_c).sum(axis=0)
    check_accumulator(graph, op, folded, abs_sums)
    requant = multiplier_fields(graph, op, mult, shift)
    check_requantize(graph, op, accumulator_bounds(folded, abs_sums).tolist(), mult, shift, y.quant.zp)
    _, out_h, out_w, _ = y.shape
    return Kernel(
        func="ec_depthwise_conv2d_s8",
        unit="ec_depthwise_conv",
        params_type="ec_depthwise_conv2d_params_t",
        params=dict(
            batches=b, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
            depth_multiplier=multiplier, k_h=k_h, k_w=k_w, **geometry,
            input_zp=x.quant.zp, output_zp=y.quant.zp, act_min=act_min, act_max=act_max,
            weights=CArray("int8_t", w.data, "weights"),
            bias=CArray("int32_t", folded, "bias"),
            **requant,
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=b * out_h * out_w * out_c * k_h * k_w,
        summary=f"{k_h}x{k_w}/{geometry['stride_h']},{geometry['stride_w']} "
        f"{'SAME' if op.options.get('padding', 0) == 0 else 'VALID'} x{multiplier} {in_c}->{out_c}",
    )
