"""FULLY_CONNECTED, lowered to ec_fully_connected_s8 (c_runtime/ec_fully_connected.c).

The weights are stored in the order the kernel reads them (ec_fully_connected.h): rows
zero-padded to a multiple of four, blocks of ROWS rows interleaved by groups of four weights,
the remaining rows after them. Two forms: int8 (the default) and int16, pre-widened and each
group stored (w0, w2, w1, w3) to match SXTB16's halfword pairs. In a batch-1 layer every
weight is used once per inference, so the int16 form saves little per extra flash byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import CArray, Kernel, WeightForm, fail, fused_activation, int8_io, lowering
from edgeconv.lowering.ops.mac import (
    accumulator_bounds,
    check_accumulator,
    conv_multipliers,
    fold_bias,
    multiplier_fields,
    s16_accumulator_is_int32,
    s16_bias_field,
    s16_io,
    s16_requant_pairs,
    s16_sum_fits_int32,
    weights_and_bias,
)
from edgeconv.lowering.ops.ranges import check_requantize

ROWS = 4  # EC_FC_ROWS in c_runtime/ec_fully_connected.h
_S16_ORDER = [0, 2, 1, 3]  # where weight j of a group goes in the int16 form

# What the int16 form saves per MAC on a Cortex-M4 (DSP path; inner loops read in the
# generated assembly, totals measured on ad01_int8): per group of four inputs, a block of four
# rows takes 23 instructions with int8 weights (input LDR + 2 SXTB16, 2 LDRD, 8 SXTB16,
# 8 SMLAD, loop compare and branch) and 17 with int16 (input LDR + 2 SXTB16, 4 LDRD,
# 8 SMLAD, compare and branch): 6 per 16 MACs. A single row takes 10 and 8 per 4 MACs.
_INT16_SAVED_PER_MAC_BLOCKED = 6 / 16
_INT16_SAVED_PER_MAC_SINGLE = 2 / 4


@dataclass
class WeightLayout:
    weights8: np.ndarray  # int8, the kernel's order
    weights16: np.ndarray  # int16, the kernel's order
    depth_words: int


def arrange_weights(w: np.ndarray) -> WeightLayout:
    """[units][depth] int8 weights in the kernel's order (see the module docstring)."""
    units, depth = w.shape
    depth_words = (depth + 3) // 4
    padded = np.zeros((units, depth_words * 4), dtype=np.int8)
    padded[:, :depth] = w
    groups = padded.reshape(units, depth_words, 4)
    blocked = units - units % ROWS
    # blocks: [block][group][row][4]
    head = groups[:blocked].reshape(blocked // ROWS, ROWS, depth_words, 4).transpose(0, 2, 1, 3)
    ordered = np.concatenate([head.reshape(-1, 4), groups[blocked:].reshape(-1, 4)])
    return WeightLayout(
        weights8=ordered.reshape(-1),
        weights16=ordered[:, _S16_ORDER].astype(np.int16).reshape(-1),
        depth_words=depth_words,
    )


def check_fc_shapes(graph: Graph, op: Op, x: Tensor, y: Tensor, w: Tensor) -> tuple[int, int, int]:
    """FULLY_CONNECTED's 2-D weights [units, depth] against its input and output: (units, depth,
    batches), the input read as rows of depth."""
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
        raise fail(
            graph, op, f"output shape {list(y.shape)} is not the {batches} input rows by the weights' {units} units"
        )
    return units, depth, batches


@lowering("FULLY_CONNECTED")
def lower_fully_connected(graph: Graph, op: Op) -> Kernel:
    if graph.tensors[op.inputs[0]].dtype == "int16":
        return lower_fully_connected_s16(graph, op)
    x, y, _, _ = int8_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=0)
    units, depth, batches = check_fc_shapes(graph, op, x, y, w)
    # Per tensor too, the scales are multiplied in double. (TFLM's source,
    # GetQuantizedConvolutionMultipler, reads as a float32 product, but the tflite_micro
    # build we validate against behaves as double: ad01_int8 and per-tensor Dense models
    # whose two products round to different multipliers match only the double one.)
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s)
    act_min, act_max = fused_activation(graph, op, y)
    folded = fold_bias(bias, w.data.sum(axis=1, dtype=np.int64), x.quant.zp)
    abs_sums = np.abs(w.data.astype(np.int64)).sum(axis=1)
    check_accumulator(graph, op, folded, abs_sums)
    requant = multiplier_fields(graph, op, mult, shift)
    check_requantize(graph, op, accumulator_bounds(folded, abs_sums).tolist(), mult, shift, y.quant.zp)
    layout = arrange_weights(w.data.reshape(units, depth))
    if layout.weights8.size >= 1 << 31:  # the kernel's offsets u * 4 * depth_words are int32
        raise fail(graph, op, f"weights of {units} x {depth} are too large")
    macs = batches * units * depth
    blocked = units - units % ROWS
    # The int8 params struct's fields; like the s16 one below and conv.py's, but kept apart: each C params struct has
    # its own fields, which this dict must match one for one
    return Kernel(
        func="ec_fully_connected_s8",
        unit="ec_fully_connected",
        params_type="ec_fully_connected_params_t",
        params=dict(
            batches=batches,
            depth=depth,
            depth_words=layout.depth_words,
            units=units,
            output_zp=y.quant.zp,
            act_min=act_min,
            act_max=act_max,
            weights=CArray("int8_t", layout.weights8, "weights", program_memory=True),
            bias=CArray("int32_t", folded, "bias", program_memory=True),
            **requant,
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=macs,
        summary=f"{depth}->{units}" + (f" x{batches}" if batches > 1 else ""),
        weight_forms=[
            WeightForm(
                "int16",
                {"weights": None, "weights16": CArray("int16_t", layout.weights16, "weights", program_memory=True)},
                extra_flash_bytes=int(layout.weights16.nbytes - layout.weights8.nbytes),
                instructions_saved=int(
                    batches
                    * depth
                    * (blocked * _INT16_SAVED_PER_MAC_BLOCKED + (units - blocked) * _INT16_SAVED_PER_MAC_SINGLE)
                ),
                func="ec_fully_connected_s8_w16",  # the entry point that links only the int16 loops
            )
        ],
    )


def s16_fc_layout(rows: np.ndarray) -> np.ndarray:
    """ec_fully_connected_s16's weights (ec_fully_connected.h) from [units][depth] int8 rows."""
    units, depth = rows.shape
    u_pad, d_pad = -(-units // 4) * 4, -(-depth // 4) * 4
    wp = np.zeros((u_pad, d_pad), dtype=np.int8)
    wp[:units, :depth] = rows
    # block, lane, quad, slot -> block, quad, lane, slot (quads stored w0, w2, w1, w3)
    blocks = wp.reshape(u_pad // 4, 4, d_pad // 4, 4)[..., [0, 2, 1, 3]].transpose(0, 2, 1, 3)
    return np.ascontiguousarray(blocks).reshape(-1)


def lower_fully_connected_s16(graph: Graph, op: Op) -> Kernel:
    """FULLY_CONNECTED 16x8 (int16 activations, int8 weights per channel or per tensor, int64 or
    int32 bias): ec_fully_connected_s16, TFLite's reference FullyConnected(PerChannel) for int16."""
    x, y = s16_io(graph, op)
    w, bias = weights_and_bias(graph, op, channel_axis=0, bias_dtypes=("int64", "int32"))
    units, depth, batches = check_fc_shapes(graph, op, x, y, w)
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s)
    act_min, act_max = fused_activation(graph, op, y)
    acc32 = s16_accumulator_is_int32(graph, op)
    rows = w.data.reshape(units, depth)
    weights = s16_fc_layout(rows)
    if weights.size >= 1 << 31:  # the kernel's offsets u * 4 * depth_words are int32
        raise fail(graph, op, f"weights of {units} x {depth} are too large")
    pairs = s16_requant_pairs(graph, op, mult, shift, acc32)
    bias_field = s16_bias_field(bias, np.tile(pairs, units // (pairs.size // 2)), acc32)
    per_channel = len({tuple(pair) for pair in pairs.reshape(-1, 2).tolist()}) > 1
    if not per_channel:
        pairs = pairs[:2]
    # The s16 params struct's fields; like the int8 one above, but kept apart: each C params struct has its own fields,
    # which this dict must match one for one
    return Kernel(
        func="ec_fully_connected_s16",
        unit="ec_fully_connected",
        params_type="ec_fully_connected_s16_params_t",
        params=dict(
            batches=batches,
            depth=depth,
            depth_words=(depth + 3) // 4,
            units=units,
            act_min=act_min,
            act_max=act_max,
            per_channel=int(per_channel),
            sum32=int(s16_sum_fits_int32(np.abs(rows.astype(np.int64)).sum(axis=1))),
            acc32=int(acc32),
            weights=CArray("int8_t", weights, "weights", program_memory=True),
            bias=bias_field,
            requant=CArray("int32_t", pairs, "multiplier", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        macs=batches * units * depth,
        summary=f"16x8 {depth}->{units}" + (f" x{batches}" if batches > 1 else ""),
    )
