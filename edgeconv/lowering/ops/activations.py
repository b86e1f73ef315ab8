"""Unary activations: LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, LEAKY_RELU, PRELU, in int8 and
(all but HARD_SWISH, which neither TFLite Micro nor TFLite's reference kernels run in int16)
in int16 for 16x8 models.

Every parameter is computed as TFLite Micro's Prepare computes it (its float32-vs-double choices
included); the kernels (c_runtime/ec_logistic.c, ...) apply them elementwise with the
fixed-point helpers of ec_fixedpoint.h, one entry point per type (ec_relu_s8, ec_relu_s16).
Where TFLite Micro and TFLite's reference kernels differ, TFLite Micro is followed (see RELU6;
int16 LOGISTIC and TANH, which TFLite's reference runs only for power-of-two input scales).
"""

from __future__ import annotations

import math

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import (
    DTYPE_SUFFIX,
    CArray,
    Kernel,
    const_input,
    fail,
    lowering,
    qrange,
    quant_io,
    requantize_multiplier,
    require_dtype,
    require_quant,
)
from quantize.fixedpoint import activation_range, checked_log2, f32, f32_div, tflite_round

_MAX_DIMS = 6  # EC_MAX_DIMS in c_runtime/ec_common.h: the PRELU params' dims[] length


def _unary_io(graph: Graph, op: Op, dtypes: tuple[str, ...] = ("int8", "int16")) -> tuple[Tensor, Tensor]:
    """The input and output of a unary activation, both of one type among `dtypes`, which must
    hold the same elements."""
    if not op.inputs or op.inputs[0] < 0 or not op.outputs:
        raise fail(graph, op, "needs one input and one output")
    x, y, xq, yq = quant_io(graph, op, dtypes)
    if x.size != y.size:
        raise fail(graph, op, f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    return x, y


def _input_dtype(graph: Graph, op: Op) -> str | None:
    return graph.tensors[op.inputs[0]].dtype if op.inputs and op.inputs[0] >= 0 else None


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
        raise fail(
            graph,
            op,
            f"int8 output must have scale {out_scale:g} and zero point {out_zp} (has {y.quant.s:g}, {y.quant.zp})",
        )
    multiplier, shift, radius = _q4_input_scaling(graph, op, x.quant.s)
    return Kernel(
        func=func,
        unit=unit,
        params_type=f"{unit}_params_t",
        params=dict(
            size=x.size, input_zp=x.quant.zp, input_range_radius=radius, input_multiplier=multiplier, input_shift=shift
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"radius {radius}",
    )


@lowering("LOGISTIC")
def lower_logistic(graph: Graph, op: Op) -> Kernel:
    if _input_dtype(graph, op) == "int16":
        return _logistic_like_s16(graph, op, "ec_logistic", pot_shifts=(0,))
    return _logistic_like(graph, op, "ec_logistic_s8", "ec_logistic", 1.0 / 256, -128)


@lowering("TANH")
def lower_tanh(graph: Graph, op: Op) -> Kernel:
    if _input_dtype(graph, op) == "int16":
        return _logistic_like_s16(graph, op, "ec_tanh", pot_shifts=(0, 1))
    return _logistic_like(graph, op, "ec_tanh_s8", "ec_tanh", 1.0 / 128, 0)


# TFLite's sigmoid_table_uint16 (kernels/internal/common.h): sigmoid(i / 24) in Q16 (the last
# entry 65535), read by both int16 kernels (tanh(x) = 2 * sigmoid(2x) - 1).
SIGMOID_TABLE_UINT16 = np.array(
    [
        32768,
        33451,
        34133,
        34813,
        35493,
        36169,
        36843,
        37513,
        38180,
        38841,
        39498,
        40149,
        40794,
        41432,
        42064,
        42688,
        43304,
        43912,
        44511,
        45102,
        45683,
        46255,
        46817,
        47369,
        47911,
        48443,
        48964,
        49475,
        49975,
        50464,
        50942,
        51409,
        51865,
        52311,
        52745,
        53169,
        53581,
        53983,
        54374,
        54755,
        55125,
        55485,
        55834,
        56174,
        56503,
        56823,
        57133,
        57433,
        57724,
        58007,
        58280,
        58544,
        58800,
        59048,
        59288,
        59519,
        59743,
        59959,
        60168,
        60370,
        60565,
        60753,
        60935,
        61110,
        61279,
        61441,
        61599,
        61750,
        61896,
        62036,
        62172,
        62302,
        62428,
        62549,
        62666,
        62778,
        62886,
        62990,
        63090,
        63186,
        63279,
        63368,
        63454,
        63536,
        63615,
        63691,
        63765,
        63835,
        63903,
        63968,
        64030,
        64090,
        64148,
        64204,
        64257,
        64308,
        64357,
        64405,
        64450,
        64494,
        64536,
        64576,
        64614,
        64652,
        64687,
        64721,
        64754,
        64786,
        64816,
        64845,
        64873,
        64900,
        64926,
        64950,
        64974,
        64997,
        65019,
        65039,
        65060,
        65079,
        65097,
        65115,
        65132,
        65149,
        65164,
        65179,
        65194,
        65208,
        65221,
        65234,
        65246,
        65258,
        65269,
        65280,
        65291,
        65301,
        65310,
        65319,
        65328,
        65337,
        65345,
        65352,
        65360,
        65367,
        65374,
        65381,
        65387,
        65393,
        65399,
        65404,
        65410,
        65415,
        65420,
        65425,
        65429,
        65433,
        65438,
        65442,
        65445,
        65449,
        65453,
        65456,
        65459,
        65462,
        65465,
        65468,
        65471,
        65474,
        65476,
        65479,
        65481,
        65483,
        65485,
        65488,
        65489,
        65491,
        65493,
        65495,
        65497,
        65498,
        65500,
        65501,
        65503,
        65504,
        65505,
        65507,
        65508,
        65509,
        65510,
        65511,
        65512,
        65513,
        65514,
        65515,
        65516,
        65517,
        65517,
        65518,
        65519,
        65520,
        65520,
        65521,
        65522,
        65522,
        65523,
        65523,
        65524,
        65524,
        65525,
        65525,
        65526,
        65526,
        65526,
        65527,
        65527,
        65528,
        65528,
        65528,
        65529,
        65529,
        65529,
        65529,
        65530,
        65530,
        65530,
        65530,
        65531,
        65531,
        65531,
        65531,
        65531,
        65532,
        65532,
        65532,
        65532,
        65532,
        65532,
        65533,
        65533,
        65533,
        65533,
        65533,
        65533,
        65533,
        65533,
        65534,
        65534,
        65534,
        65534,
        65534,
        65534,
        65534,
        65534,
        65534,
        65534,
        65535,
    ],
    dtype=np.uint16,
)


def _logistic_like_s16(graph: Graph, op: Op, unit: str, pot_shifts: tuple[int, ...]) -> Kernel:
    """TFLite Micro's int16 LOGISTIC / TANH Prepare (logistic_common.cc, tanh.cc): zero points
    0, an output scale of 2^-15 (CheckedLog2, within 1e-3 in log2) and the input put on the
    scale 1 / (3 * 4096) of the sigmoid table: by multiplier 3 << shift when the input scale is
    a power of two that TFLite's shortcut takes (log2 within 1e-3 of -12, or of -12 or -11 for
    TANH), else by an integer multiplier in (16383, 32767] and a rounding right shift (or a
    multiplier above that and no shift, for input scales above 4 / 3)."""
    x, y = _unary_io(graph, op)  # x is int16, so y must be too
    if x.quant.zp != 0 or y.quant.zp != 0:
        raise fail(graph, op, f"int16 input and output must have zero point 0 (have {x.quant.zp}, {y.quant.zp})")
    out_pot, out_log2 = checked_log2(y.quant.s)
    if not out_pot or out_log2 != -15:
        raise fail(graph, op, f"int16 output must have scale 2^-15 (has {y.quant.s:g})")
    pot, in_log2 = checked_log2(x.quant.s)
    shift = (15 - 3) + in_log2
    if pot and shift in pot_shifts:
        # TFLite's power-of-two case: multiplier 0 in Prepare, 3 << shift and shift 0 at run time.
        multiplier, shift = 3 << shift, 0
    else:
        real = float(x.quant.s) * 4096.0 * 3.0
        shift = 0
        while real <= 32767.0 / 2.0 and shift <= 30:
            shift += 1
            real *= 2.0
        if real >= 2.0**31:
            raise fail(graph, op, f"input scale {x.quant.s:g} is too large for the int16 kernel")
        multiplier = int(real)  # static_cast<int32_t>: truncation
        if multiplier == 0:
            # TFLite would take multiplier 0 for its power-of-two case and shift 3 by 31 bits.
            raise fail(graph, op, f"input scale {x.quant.s:g} is too small for the int16 kernel")
        if multiplier > 65535:
            # TFLite Micro's Prepare only DCHECKs multiplier <= 32767; beyond 65535 its
            # input * multiplier can overflow int32 (and abs() of INT32_MIN).
            raise fail(
                graph,
                op,
                f"input scale {x.quant.s:g} is too large for the int16 kernel (multiplier {multiplier} > 65535)",
            )
    return Kernel(
        func=f"{unit}_s16",
        unit=unit,
        params_type=f"{unit}_s16_params_t",
        params=dict(
            size=x.size,
            input_multiplier=multiplier,
            input_shift=shift,
            sigmoid_table=CArray("uint16_t", SIGMOID_TABLE_UINT16, "table", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"multiplier {multiplier} >> {shift}",
    )


# ---------------------------------------------------------------------------------------------
# HARD_SWISH


def _downscale_to_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier: a Q31 multiplier rounded to Q15."""
    if m >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


@lowering("HARD_SWISH")
def lower_hard_swish(graph: Graph, op: Op) -> Kernel:
    # int8 only: neither TFLite Micro nor TFLite's reference kernels run HARD_SWISH in int16
    # (and the converter's 16x8 mode does not quantize it).
    x, y = _unary_io(graph, op, ("int8",))
    # HardSwishPrepare: the scales in float32 (hires = input / 128 and 3 / 32768 are exact), the
    # ratios static_cast<double>(float / float) in its source, which the tflite_micro build
    # computes as double divisions (a float32 ratio is off TFLite Micro on rare scales, found
    # by search; see lower_relu).
    hires_input_scale = float(np.float32(1.0 / 128.0) * np.float32(x.quant.s))
    reluish_scale = float(np.float32(3.0) / np.float32(32768.0))
    out_real = _ratio(hires_input_scale, y.quant.s)
    reluish_real = _ratio(hires_input_scale, reluish_scale)
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
        params=dict(
            size=x.size,
            input_zp=x.quant.zp,
            output_zp=y.quant.zp,
            output_multiplier=_downscale_to_int16(out_m),
            output_exponent=out_exp,
            reluish_multiplier=_downscale_to_int16(rel_m),
            reluish_exponent=rel_exp,
        ),
        inputs=[x.index],
        outputs=[y.index],
    )


# ---------------------------------------------------------------------------------------------
# RELU, RELU6


def _ratio(numerator: float, scale: float) -> float:
    """numerator / scale in double, the scale read as the float32 it is in the model."""
    with np.errstate(all="ignore"):
        return float(numerator) / f32(scale) if f32(scale) != 0.0 else math.inf


@lowering("RELU")
def lower_relu(graph: Graph, op: Op) -> Kernel:
    x, y = _unary_io(graph, op)
    if x.dtype == "int16" and (x.quant.zp != 0 or y.quant.zp != 0):  # ReluPrepare's int16 rule
        raise fail(graph, op, f"int16 input and output must have zero point 0 (have {x.quant.zp}, {y.quant.zp})")
    lo, hi = qrange(x.dtype)
    # CalculateReluOpData: the bounds by roundf in float32. Its source forms the scale ratio in
    # float32 and widens it, but the tflite_micro build computes it as a double division (a
    # float32 ratio is 1 LSB off TFLite Micro where its multiplier differs; TFLite's reference
    # kernel divides in float32): followed here.
    m, shift = requantize_multiplier(graph, op, _ratio(x.quant.s, y.quant.s), "rescale")
    act_min = max(lo, y.quant.zp + tflite_round(f32_div(0.0, y.quant.s)))
    return Kernel(
        # ec_relu_params_t for RELU/RELU6/RELU_N1_TO_1 by bounds; like RELU_0_TO_1's below and mean.py's, but kept
        # apart: each C params struct has its own fields, which this dict must match one for one
        func=f"ec_relu_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_relu",
        params_type="ec_relu_params_t",
        params=dict(
            size=x.size,
            input_zp=x.quant.zp,
            output_zp=y.quant.zp,
            multiplier=m,
            shift=shift,
            act_min=act_min,
            act_max=hi,
        ),
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
        raise fail(
            graph,
            op,
            f"6.0 divided by the input scale {x.quant.s:g} does not fit int32; TFLite's RELU6 bound is undefined there",
        )
    lo, hi = qrange(x.dtype)
    six = min(hi, max(lo, tflite_round(q) + x.quant.zp))
    summary = "" if (x.quant.s, x.quant.zp) == (y.quant.s, y.quant.zp) else "input scale kept (as TFLite Micro)"
    return Kernel(
        func=f"ec_relu6_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_relu",
        params_type="ec_relu6_params_t",
        params=dict(size=x.size, lower=x.quant.zp, upper=six),
        inputs=[x.index],
        outputs=[y.index],
        summary=summary,
    )


@lowering("RELU_N1_TO_1")
def lower_relu_n1_to_1(graph: Graph, op: Op) -> Kernel:
    """TFLite Micro has no RELU_N1_TO_1: TFLite's kernel is the oracle, int8 only (its Relu1Eval
    refuses int16). QuantizedReluX(-1, 1): requantize by input / output scale (ReluPrepare's
    ratio, float32 widened to double), clamp to the quantized -1 and 1 (roundf of float32
    quotients, refused beyond int32 as TFLite's Prepare refuses fused bounds there)."""
    x, y = _unary_io(graph, op, ("int8",))
    m, shift = requantize_multiplier(graph, op, f32_div(x.quant.s, y.quant.s), "rescale")
    try:
        act_min, act_max = activation_range(2, float(y.quant.s), y.quant.zp, -128, 127)
    except ValueError as exc:
        raise fail(graph, op, str(exc)) from None
    return Kernel(
        # Like the RELU kernel above (same struct), but int8 only with [-1, 1] bounds: kept apart because the bounds are
        # worked out differently
        func="ec_relu_s8",
        unit="ec_relu",
        params_type="ec_relu_params_t",
        params=dict(
            size=x.size,
            input_zp=x.quant.zp,
            output_zp=y.quant.zp,
            multiplier=m,
            shift=shift,
            act_min=act_min,
            act_max=act_max,
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary="clamp [-1, 1]",
    )


# ---------------------------------------------------------------------------------------------
# LEAKY_RELU, PRELU


@lowering("LEAKY_RELU")
def lower_leaky_relu(graph: Graph, op: Op) -> Kernel:
    x, y = _unary_io(graph, op)
    alpha = f32(float(op.options.get("alpha", 0.0)))  # TFLite reads missing LeakyReluOptions as alpha 0
    # CalculateOpDataLeakyRelu: input scale * alpha / output scale and input / output scale,
    # in double as the tflite_micro build computes them (see lower_relu; its source writes
    # float32 arithmetic widened afterwards, which differs on rare inputs).
    alpha_real = _ratio(f32(x.quant.s) * alpha, y.quant.s)
    alpha_m, alpha_shift = requantize_multiplier(graph, op, alpha_real, "alpha")
    id_m, id_shift = requantize_multiplier(graph, op, _ratio(x.quant.s, y.quant.s), "identity")
    return Kernel(
        func=f"ec_leaky_relu_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_leaky_relu",
        params_type="ec_leaky_relu_params_t",
        params=dict(
            size=x.size,
            input_zp=x.quant.zp,
            output_zp=y.quant.zp,
            identity_multiplier=id_m,
            identity_shift=id_shift,
            alpha_multiplier=abs(alpha_m),
            alpha_shift=alpha_shift,
            alpha_negative=int(alpha_m < 0),
        ),
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
    require_dtype(graph, op, a, "int8")  # also for int16 PRELU: TFLite Micro's PreluPrepare requires it
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
    # ec_prelu_params_t's fields; like elementwise.py's binary ops, but kept apart: each C params struct has its own
    # fields, which this dict must match one for one
    return Kernel(
        func=f"ec_prelu_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_prelu",
        params_type="ec_prelu_params_t",
        params=dict(
            dims=dims,
            input_strides=_broadcast_strides(tuple(x.shape), tuple(dims)),
            alpha_strides=_broadcast_strides(tuple(a.shape), tuple(dims)),
            input_zp=x.quant.zp,
            alpha_zp=aq.zp,
            output_zp=y.quant.zp,
            identity_multiplier=id_m,
            identity_shift=id_shift,
            alpha_multiplier=alpha_m,
            alpha_shift=alpha_shift,
            alpha=CArray("int8_t", alpha_data.astype(np.int8), "weights", program_memory=True),
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"alpha {list(a.shape)}",
    )
