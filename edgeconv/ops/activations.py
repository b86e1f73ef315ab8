"""Unary int8 activations: LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, LEAKY_RELU, PRELU.

Every parameter is computed as TFLite Micro's Prepare computes it (its float32-vs-double choices
included); the kernels (c_runtime/ec_logistic.c, ...) apply them elementwise with the
fixed-point helpers of ec_fixedpoint.h. Where TFLite Micro and TFLite's reference kernels
differ, TFLite Micro is followed (see RELU6).
"""

from __future__ import annotations

import math

import numpy as np

from quantize.fixedpoint import f32, f32_div, f32_mul, tflite_round

from ..ir import Graph, Op, Tensor, UnsupportedOpError
from .base import int8_io, CArray, Kernel, const_input, fail, lowering, require_dtype, require_quant, requantize_multiplier

_MAX_DIMS = 6  # EC_MAX_DIMS in c_runtime/ec_common.h: the PRELU params' dims[] length


def _unary_io(graph: Graph, op: Op) -> tuple[Tensor, Tensor]:
    """The int8 input and output of a unary activation, which must hold the same elements."""
    if not op.inputs or op.inputs[0] < 0 or not op.outputs:
        raise fail(graph, op, "needs one input and one output")
    x, y, xq, yq = int8_io(graph, op)
    if x.size != y.size:
        raise fail(graph, op, f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    return x, y


# ---------------------------------------------------------------------------------------------
# LOGISTIC and TANH


def _q4_input_scaling(graph: Graph, op: Op, input_scale: float) -> tuple[int, int, int]:
    """TFLite Micro's int8 Logistic/Tanh Prepare: (multiplier, shift, radius) taking x - zp to
    Q4 (kInputIntegerBits = 4). The multiplier is frexp(scale * 2^27) rounded to Q31, the
    shift frexp's exponent; inputs of magnitude >= radius saturate."""
    real = float(input_scale) * float(1 << (31 - 4))
    q, shift = math.frexp(real)
    multiplier = tflite_round(q * (1 << 31))
    if shift < 0:
        # CalculateInputRadius shifts by input_left_shift: undefined in TFLite for a negative one.
        raise UnsupportedOpError(
            f"{op.describe(graph)}: input scale {input_scale:g} is too small (below 2^-28) for the int8 kernel"
        )
    if multiplier >= 1 << 31:  # cannot happen for a float32 scale (24-bit mantissa)
        raise fail(graph, op, f"input scale {input_scale:g} gives an unrepresentable multiplier")
    # CalculateInputRadius(4, shift, 31): floor(15 * 2^27 / 2^shift), exact in double.
    radius = (((1 << 4) - 1) << (31 - 4)) >> shift
    return multiplier, shift, radius


def _logistic_like(graph: Graph, op: Op, func: str, unit: str, out_scale: float, out_zp: int) -> Kernel:
    x, y = _unary_io(graph, op)
    # TFLite Micro checks the output zero point of LOGISTIC only, but both kernels write a fixed
    # output quantization; any other would be silently misread.
    if y.quant.zp != out_zp or y.quant.s != out_scale:
        raise fail(graph, op, f"int8 output must have scale {out_scale:g} and zero point {out_zp} "
                              f"(has {y.quant.s:g}, {y.quant.zp})")
    multiplier, shift, radius = _q4_input_scaling(graph, op, x.quant.s)
    return Kernel(
        func=func,
        unit=unit,
        params_type=f"{unit}_params_t",
        params=dict(size=x.size, input_zp=x.quant.zp, input_range_radius=radius,
                    input_multiplier=multiplier, input_shift=shift),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"radius {radius}",
    )


@lowering("LOGISTIC")
def lower_logistic(graph: Graph, op: Op) -> Kernel:
    return _logistic_like(graph, op, "ec_logistic_s8", "ec_logistic", 1.0 / 256, -128)


@lowering("TANH")
def lower_tanh(graph: Graph, op: Op) -> Kernel:
    return _logistic_like(graph, op, "ec_tanh_s8", "ec_tanh", 1.0 / 128, 0)


# ---------------------------------------------------------------------------------------------
# HARD_SWISH


def _downscale_to_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier: a Q31 multiplier rounded to Q15."""
    if m >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


@lowering("HARD_SWISH")
def lower_hard_swish(graph: Graph, op: Op) -> Kernel:
    x, y = _unary_io(graph, op)
    # HardSwishPrepare, in float32 throughout until the multipliers are widened to double.
    hires_input_scale = float(np.float32(1.0 / 128.0) * np.float32(x.quant.s))
    reluish_scale = float(np.float32(3.0) / np.float32(32768.0))
    out_real = f32_div(hires_input_scale, y.quant.s)
    reluish_real = f32_div(hires_input_scale, reluish_scale)
    out_m, out_exp = requantize_multiplier(graph, op, out_real, "output")
    if out_exp > 0:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: output multiplier {out_real:g} needs a left shift, which TFLite's "
            "HARD_SWISH does not support (input scale / 128 must be below the output scale)"
        )
    if out_exp < -31:
        raise fail(graph, op, f"output multiplier {out_real:g} is too small")
    rel_m, rel_exp = requantize_multiplier(graph, op, reluish_real, "relu-ish")
    if rel_exp < -31:
        raise fail(graph, op, f"relu-ish multiplier {reluish_real:g} is too small")
    return Kernel(
        func="ec_hard_swish_s8",
        unit="ec_hard_swish",
        params_type="ec_hard_swish_params_t",
        params=dict(size=x.size, input_zp=x.quant.zp, output_zp=y.quant.zp,
                    output_multiplier=_downscale_to_int16(out_m), output_exponent=out_exp,
                    reluish_multiplier=_downscale_to_int16(rel_m), reluish_exponent=rel_exp),
        inputs=[x.index],
        outputs=[y.index],
    )


# ---------------------------------------------------------------------------------------------
# RELU, RELU6


@lowering("RELU")
def lower_relu(graph: Graph, op: Op) -> Kernel:
    x, y = _unary_io(graph, op)
    # CalculateReluOpData: the scale ratio in float32, the bounds by roundf in float32.
    m, shift = requantize_multiplier(graph, op, f32_div(x.quant.s, y.quant.s), "rescale")
    act_min = max(-128, y.quant.zp + tflite_round(f32_div(0.0, y.quant.s)))
    return Kernel(
        func="ec_relu_s8",
        unit="ec_relu",
        params_type="ec_relu_params_t",
        params=dict(size=x.size, input_zp=x.quant.zp, output_zp=y.quant.zp, multiplier=m, shift=shift,
                    act_min=act_min, act_max=127),
        inputs=[x.index],
        outputs=[y.index],
    )


@lowering("RELU6")
def lower_relu6(graph: Graph, op: Op) -> Kernel:
    x, y = _unary_io(graph, op)
    # Relu6Prepare: zero = input zp, six = FloatToQuantizedType<int8_t>(6.0f, input scale, zp),
    # i.e. round(6.0f / scale) + zp in float32, clamped. TFLite Micro's Relu6Quantized then only
    # clamps the input values: it ignores the output quantization (TFLite's reference kernel
    # rescales to it, so the two differ when the converter gives the output its own scale).
    # TFLite converts round(6 / scale) to int32 unchecked: a quotient beyond int32 (an input
    # scale below about 2.8e-9) has no defined result there, so it is refused.
    q = f32_div(6.0, x.quant.s)
    if not (math.isfinite(q) and tflite_round(q) < 2.0**31):
        raise fail(graph, op, f"6.0 divided by the input scale {x.quant.s:g} does not fit int32; "
                              "TFLite's RELU6 bound is undefined there")
    six = min(127, max(-128, tflite_round(q) + x.quant.zp))
    summary = "" if (x.quant.s, x.quant.zp) == (y.quant.s, y.quant.zp) else "input scale kept (as TFLite Micro)"
    return Kernel(
        func="ec_relu6_s8",
        unit="ec_relu",
        params_type="ec_relu6_params_t",
        params=dict(size=x.size, lower=x.quant.zp, upper=six),
        inputs=[x.index],
        outputs=[y.index],
        summary=summary,
    )


# ---------------------------------------------------------------------------------------------
# LEAKY_RELU, PRELU


@lowering("LEAKY_RELU")
def lower_leaky_relu(graph: Graph, op: Op) -> Kernel:
    x, y = _unary_io(graph, op)
    alpha = f32(float(op.options.get("alpha", 0.0)))  # TFLite reads missing LeakyReluOptions as alpha 0
    # CalculateOpDataLeakyRelu: input scale * alpha / output scale, all in float32.
    alpha_real = f32_div(f32_mul(x.quant.s, alpha), y.quant.s)
    alpha_m, alpha_shift = requantize_multiplier(graph, op, alpha_real, "alpha")
    id_m, id_shift = requantize_multiplier(graph, op, f32_div(x.quant.s, y.quant.s), "identity")
    return Kernel(
        func="ec_leaky_relu_s8",
        unit="ec_leaky_relu",
        params_type="ec_leaky_relu_params_t",
        params=dict(size=x.size, input_zp=x.quant.zp, output_zp=y.quant.zp,
                    identity_multiplier=id_m, identity_shift=id_shift,
                    alpha_multiplier=abs(alpha_m), alpha_shift=alpha_shift, alpha_negative=int(alpha_m < 0)),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"alpha {alpha:g}",
    )


def _broadcast_strides(shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """Element strides of `shape` walked along the (right-aligned) output dims; 0 where broadcast."""
    s = (1,) * (len(out) - len(shape)) + tuple(shape)
    strides, step = [0] * len(out), 1
    for d in range(len(out) - 1, -1, -1):
        strides[d] = step if s[d] != 1 else 0
        step *= s[d]
    return strides


@lowering("PRELU")
def lower_prelu(graph: Graph, op: Op) -> Kernel:
    x, y = _unary_io(graph, op)
    alpha_data = const_input(graph, op, 1, "alpha")
    a = graph.tensors[op.inputs[1]]
    require_dtype(graph, op, a, "int8")
    aq = require_quant(graph, op, a)
    rank = max(len(x.shape), len(a.shape), len(y.shape))
    if rank > _MAX_DIMS:
        raise UnsupportedOpError(f"{op.describe(graph)}: rank {rank} > {_MAX_DIMS} is not supported")
    try:
        out_shape = tuple(int(d) for d in np.broadcast_shapes(tuple(x.shape), tuple(a.shape)))
    except ValueError:
        raise fail(graph, op, f"alpha {list(a.shape)} does not broadcast against input {list(x.shape)}") from None
    if tuple(y.shape) != out_shape:  # TFLite Micro broadcasts along the output's own shape
        raise fail(graph, op, f"output {list(y.shape)} is not the broadcast shape {list(out_shape)}")
    dims = [1] * (_MAX_DIMS - len(out_shape)) + list(out_shape)
    # CalculatePreluParams: both ratios in double.
    id_m, id_shift = requantize_multiplier(graph, op, float(x.quant.s) / float(y.quant.s), "identity")
    alpha_m, alpha_shift = requantize_multiplier(graph, op, float(x.quant.s) * float(aq.s) / float(y.quant.s), "alpha")
    return Kernel(
        func="ec_prelu_s8",
        unit="ec_prelu",
        params_type="ec_prelu_params_t",
        params=dict(
            dims=dims,
            input_strides=_broadcast_strides(tuple(x.shape), tuple(dims)),
            alpha_strides=_broadcast_strides(tuple(a.shape), tuple(dims)),
            input_zp=x.quant.zp, alpha_zp=aq.zp, output_zp=y.quant.zp,
            identity_multiplier=id_m, identity_shift=id_shift,
            alpha_multiplier=alpha_m, alpha_shift=alpha_shift,
            alpha=CArray("int8_t", alpha_data.astype(np.int8), "weights"),
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"alpha {list(a.shape)}",
    )
