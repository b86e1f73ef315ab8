"""CONV_2D: the convolution, lowered to ec_conv2d_s8 (c_runtime/ec_conv.c)."""

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
from .ranges import check_requantize


@lowering("CONV_2D")
def lower_conv2d(graph: Graph, op: Op) -> Kernel:
    x, y, _, _ = int8_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=0)
    if len(w.shape) != 4:
        raise fail(graph, op, f"weights {w.describe()} have shape {list(w.shape)}, expected 4-D")
    out_c, k_h, k_w, f_in_c = w.shape
    b, in_h, in_w, in_c = x.shape
    if y.shape[3] != out_c or y.shape[0] != b:
        raise fail(graph, op, f"output shape {list(y.shape)} does not match weights {list(w.shape)}")
    if f_in_c <= 0 or in_c % f_in_c or out_c % (in_c // f_in_c):
        raise fail(graph, op, f"input channels {in_c} do not divide into groups of {f_in_c}")
    geometry = spatial_geometry(graph, op, x, y, k_h, k_w)
    w_scales = w.quant.scale if w.quant.per_channel else (w.quant.s,) * out_c
    mult, shift = conv_multipliers(x.quant.s, w_scales, y.quant.s)
    act_min, act_max = mac_activation(graph, op, y)
    folded = fold_bias(bias, w.data.reshape(out_c, -1).sum(axis=1, dtype=np.int64), x.quant.zp)
    abs_sums = np.abs(w.data.astype(np.int64)).reshape(out_c, -1).sum(axis=1)
    check_accumulator(graph, op, folded, abs_sums)
    requant = multiplier_fields(graph, op, mult, shift)
    check_requantize(graph, op, accumulator_bounds(folded, abs_sums).tolist(), mult, shift, y.quant.zp)
    _, out_h, out_w, _ = y.shape
    macs = b * out_h * out_w * out_c * k_h * k_w * f_in_c
    return Kernel(
        func="ec_conv2d_s8",
        unit="ec_conv",
        params_type="ec_conv2d_params_t",
        params=dict(
            batches=b, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
            k_h=k_h, k_w=k_w, filter_in_c=f_in_c, **geometry,
            input_zp=x.quant.zp, output_zp=y.quant.zp, act_min=act_min, act_max=act_max,
            weights=CArray("int8_t", w.data, "weights"),
            bias=CArray("int32_t", folded, "bias"),
            **requant,
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=macs,
        summary=f"{k_h}x{k_w}/{geometry['stride_h']},{geometry['stride_w']} "
        f"{'SAME' if op.options.get('padding', 0) == 0 else 'VALID'} {in_c}->{out_c}"
        + (f" dil {geometry['dil_h']},{geometry['dil_w']}" if max(geometry['dil_h'], geometry['dil_w']) > 1 else ""),
    )
