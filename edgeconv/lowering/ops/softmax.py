"""SOFTMAX (int8 -> int8, int8 -> int16, int16 -> int16), parameters as TFLite Micro's
CalculateSoftmaxParams.

int16 SOFTMAX reads two 513-entry int16 tables (exp on [-10, 0], 1 / (1 + x) on [0, 1]) that
TFLite Micro builds in Prepare with LUTPopulate in float32; they are made here with the same
arithmetic (quantize/fixedpoint.lut_populate_int16) and emitted as constant arrays, which the
emitter shares between all SOFTMAX ops of a model.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import CArray, Kernel, fail, lowering, quant_io, requantize_multiplier, require_quant
from quantize.fixedpoint import expf, lut_populate_int16, quantize_multiplier_greater_than_one

_SCALED_DIFF_INTEGER_BITS = 5


def softmax_input_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling and CalculateInputRadius: (multiplier, left_shift, diff_min)."""
    real = min(float(beta) * float(input_scale) * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier_greater_than_one(real)
    radius = math.floor(
        1.0 * ((1 << _SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - _SCALED_DIFF_INTEGER_BITS)) / (1 << left_shift)
    )
    return multiplier, left_shift, -radius


_MAX_DEPTH_S8_S16 = 8191  # int8 -> int16: a Q12 sum wrapped past 2^32 could abort TFLite Micro


@lowering("SOFTMAX")
def lower_softmax(graph: Graph, op: Op) -> Kernel:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    mixed = x.dtype == "int8" and y.dtype == "int16"  # TFLite Micro's Softmax<int8_t, int16_t>
    if mixed:
        xq, yq = require_quant(graph, op, x), require_quant(graph, op, y)
    else:
        x, y, xq, yq = quant_io(graph, op)
    if x.dtype == "int16":
        return _lower_softmax_s16(graph, op)
    if mixed:
        target = np.float32(1.0) / np.float32(65536)
        if yq.zp != -32768 or abs(np.float32(yq.s) - target) > np.float32(0.001) * target:
            raise fail(graph, op, f"int16 output must have scale 1/65536 and zero point -32768 (has {yq.s:g}, {yq.zp})")
        if x.shape and x.shape[-1] > _MAX_DEPTH_S8_S16:
            # The exps' Q12 sum can wrap past 2^32; TFLite's exponent check then aborts.
            raise fail(
                graph,
                op,
                f"depth {x.shape[-1]} > {_MAX_DEPTH_S8_S16}: TFLite's int16-output softmax "
                "fails its exponent check when the sum of exps wraps",
            )
    elif yq.zp != -128 or yq.s != 1.0 / 256:
        raise fail(graph, op, f"int8 output must have scale 1/256 and zero point -128 (has {yq.s}, {yq.zp})")
    if x.shape != y.shape or not x.shape:
        raise fail(graph, op, f"input {list(x.shape)} and output {list(y.shape)} differ")
    beta = float(op.options.get("beta", 1.0))
    real = float(beta) * float(xq.s) * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS))
    if not (math.isfinite(real) and real > 1.0):
        # TFLite's QuantizeMultiplierGreaterThanOne checks the same and stops.
        raise fail(
            graph,
            op,
            f"beta {beta:g} times the input scale {xq.s:g} is too small (or not positive): "
            "TFLite's softmax needs beta * scale > 2^-26",
        )
    # diff_min is TFLite's input radius: every difference the kernel rescales satisfies
    # |diff| * 2^left_shift <= 31 * 2^26 < 2^31 (see c_runtime/ec_softmax.c).
    multiplier, left_shift, diff_min = softmax_input_scaling(beta, xq.s)
    depth = x.shape[-1]
    # ec_softmax_params_t's fields; like the s16 one below and log_softmax.py's, but kept apart: each C params struct
    # has its own fields, which this dict must match one for one
    return Kernel(
        func="ec_softmax_s8_s16" if mixed else "ec_softmax_s8",
        unit="ec_softmax",
        params_type="ec_softmax_params_t",
        params=dict(
            rows=x.size // depth if depth else 0,
            depth=depth,
            input_multiplier=multiplier,
            input_left_shift=left_shift,
            diff_min=diff_min,
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"beta {beta:g}",
    )


# ---------------------------------------------------------------------------------------------
# int16

_INT16_RANGE = 65535  # int16 max - min, TFLite's `range`
_MAX_DEPTH_S16 = (2**31 - 1) // 32767  # 65538: the int32 sum of the row's exps cannot overflow


@functools.cache
def softmax_int16_tables() -> tuple[np.ndarray, np.ndarray]:
    """TFLite Micro's InitializeLutForInt16: exp(x) for x in [-10, 0] and 1 / (1 + x) for x in
    [0, 1], both on the output scale 2 / 65535, as LUTPopulate<int16_t> makes them (float32)."""
    f = np.float32
    exp_lut = lut_populate_int16(expf, f(10.0) / f(_INT16_RANGE), 32767, f(2.0) / f(_INT16_RANGE), 0)
    recip_lut = lut_populate_int16(
        lambda v: f(1.0) / (f(1.0) + v), f(1.0) / f(_INT16_RANGE), -32768, f(2.0) / f(_INT16_RANGE), 0
    )
    return exp_lut, recip_lut


def _lower_softmax_s16(graph: Graph, op: Op) -> Kernel:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    xq, yq = x.quant, y.quant
    # CalculateSoftmaxParams (int16): zero points 0, output scale 1/32768 within 0.1% (float32).
    if xq.zp != 0:
        raise fail(graph, op, f"int16 input must have zero point 0 (has {xq.zp})")
    target = np.float32(1.0) / np.float32(32768)
    if yq.zp != 0 or abs(np.float32(yq.s) - target) > np.float32(0.001) * target:
        raise fail(graph, op, f"int16 output must have scale 1/32768 and zero point 0 (has {yq.s:g}, {yq.zp})")
    if x.shape != y.shape or not x.shape:
        raise fail(graph, op, f"input {list(x.shape)} and output {list(y.shape)} differ")
    depth = x.shape[-1]
    if depth > _MAX_DEPTH_S16:
        # TFLite sums the exps (each up to 32767) in an int32: beyond this depth it can overflow.
        raise fail(graph, op, f"depth {depth} > {_MAX_DEPTH_S16}: the int16 kernel's int32 sum of exps could overflow")
    beta = float(np.float32(op.options.get("beta", 1.0)))
    # input scale * beta / (10 / 65535) in double: the differences [-65535, 0] map to [-10, 0].
    real = float(np.float32(xq.s)) * beta / (10.0 / 65535.0)
    multiplier, shift = requantize_multiplier(graph, op, real, "input")
    exp_lut, recip_lut = softmax_int16_tables()
    # ec_softmax_s16_params_t's fields; like the int8 one above, but kept apart: each C params struct has its own
    # fields, which this dict must match one for one
    return Kernel(
        func="ec_softmax_s16",
        unit="ec_softmax",
        params_type="ec_softmax_s16_params_t",
        params=dict(
            rows=x.size // depth if depth else 0,
            depth=depth,
            input_multiplier=multiplier,
            input_shift=shift,
            exp_lut=CArray("int16_t", exp_lut, "table", program_memory=True),
            one_over_one_plus_x_lut=CArray("int16_t", recip_lut, "table", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"beta {beta:g}",
    )
