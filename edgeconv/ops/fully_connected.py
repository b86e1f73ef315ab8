"""FULLY_CONNECTED, lowered to ec_fully_connected_s8 (c_runtime/ec_fully_connected.c)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, UnsupportedOpError
from .base import CArray, Kernel, fail, int8_io, lowering
from .mac import (
    accumulator_bounds,
    check_accumulator,
    conv_multipliers,
    fold_bias,
    mac_activation,
    multiplier_fields,
    weights_and_bias,
)
from .ranges import check_requantize


@lowering("FULLY_CONNECTED")
def lower_fully_connected(graph: Graph, op: Op) -> Kernel:
    x, y, _, _ = int8_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=0)
    if len(w.shape) != 2:
        raise fail(graph, op, f"weights {w.describe()} have shape {list(w.shape)}, expected 2-D")
    if int(op.options.get("weights_format", 0)) != 0:
        raise UnsupportedOpError(f"{op.describe(graph)}: shuffled weights format is not supported")
    units, depth = w.shape
    if depth == 0 or x.size % depth:
        raise fail(graph, op, f"input of {x.size} elements is not a whole number of rows of {depth}")
    batches = x.size // depth
    if y.size != batches * units or not y.shape or y.shape[-1] != units:
        # TFLite Micro takes the batch count and the row length from the output's shape, so
        # an output of the right size but another last dimension computes something else.
        raise fail(graph, op, f"output shape {list(y.shape)} is not the {batches} input rows by the weights' {units} units")
    # Per tensor too, the scales are multiplied in double. (TFLM's source,
    # GetQuantizedConvolutionMultipler, reads as a float32 product, but the tflite_micro
    # build we validate against behaves as double: ad01_int8 and per-tensor Dense models
    # whose two products round to different multipliers match only the double one.)
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s)
    act_min, act_max = mac_activation(graph, op, y)
    folded = fold_bias(bias, w.data.sum(axis=1, dtype=np.int64), x.quant.zp)
    abs_sums = np.abs(w.data.astype(np.int64)).sum(axis=1)
    check_accumulator(graph, op, folded, abs_sums)
    requant = multiplier_fields(graph, op, mult, shift)
    check_requantize(graph, op, accumulator_bounds(folded, abs_sums).tolist(), mult, shift, y.quant.zp)
    return Kernel(
        func="ec_fully_connected_s8",
        unit="ec_fully_connected",
        params_type="ec_fully_connected_params_t",
        params=dict(
            batches=batches, depth=depth, units=units, output_zp=y.quant.zp,
            act_min=act_min, act_max=act_max,
            weights=CArray("int8_t", w.data, "weights"),
            bias=CArray("int32_t", folded, "bias"),
            **requant,
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=batches * units * depth,
        summary=f"{depth}->{units}" + (f" x{batches}" if batches > 1 else ""),
    )
