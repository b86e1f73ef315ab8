"""Compile-time fixed-point helpers: the Python side of TFLite's quantization_util.

These compute, in double precision exactly as TFLite does, the Q31 multipliers and shifts that
the C runtime (c_runtime/ec_fixedpoint.h) applies at run time. Where TFLite forms a product of
two float32 scales in float32 before widening, callers pass np.float32 values and say so.
"""

from __future__ import annotations

import math

import numpy as np


def tflite_round(x: float) -> int:
    """std::round: half away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier (double rounding build): real = m * 2^shift / 2^31."""
    real = float(real)
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = tflite_round(frac * (1 << 31))
    if q > (1 << 31):
        raise ValueError(f"multiplier {real} cannot be quantized")
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        shift, q = 0, 0
    if q > 0x7FFFFFFF:
        raise ValueError(f"multiplier {real} cannot be quantized")
    return int(q), int(shift)


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} is not in (0, 1)")
    q, shift = quantize_multiplier(real)
    if shift > 0:
        raise ValueError(f"multiplier {real} gave a positive shift")
    return q, shift


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    if not real > 1.0:
        raise ValueError(f"multiplier {real} is not > 1")
    q, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"multiplier {real} gave a negative shift")
    return q, shift


def f32(x: float) -> float:
    """Round a Python float to float32 and back: TFLite's float arithmetic on scales. Values
    beyond float32 become inf (and tiny ones 0) silently, as in C; callers check the result."""
    with np.errstate(all="ignore"):
        return float(np.float32(x))


def f32_mul(a: float, b: float) -> float:
    with np.errstate(all="ignore"):
        return float(np.float32(a) * np.float32(b))


def f32_div(a: float, b: float) -> float:
    with np.errstate(all="ignore"):
        return float(np.float32(a) / np.float32(b))


def activation_range(activation: int, scale: float, zero_point: int, qmin: int, qmax: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the fused activation as an integer clamp.

    activation codes are TFLite's ActivationFunctionType: 0 NONE, 1 RELU, 2 RELU_N1_TO_1,
    3 RELU6. The bounds are quantized in float32 like TFLite: zp + round(x / scale). Like
    TFLite's Prepare (kernel_util.cc, no_integer_overflow_from_quantization), a rounded
    quotient outside int32 is refused: ValueError with a sentence naming the bound.
    """

    def quantize(x: float) -> int:
        q = f32_div(x, scale)
        if not (math.isfinite(q) and -(2.0**31) <= tflite_round(q) < 2.0**31):
            raise ValueError(f"the fused activation's bound {x:g} divided by the output scale {scale:g} "
                             "does not fit int32 (TFLite refuses it)")
        return zero_point + tflite_round(q)

    if activation == 0:
        return qmin, qmax
    if activation == 1:
        return max(qmin, quantize(0.0)), qmax
    if activation == 3:
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == 2:
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation}")


# The run-time arithmetic, for what the compiler tabulates (ADD/SUB input terms): Python ints,
# exactly as c_runtime/ec_fixedpoint.h computes it.


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul, transcribed (nudge, truncating division)."""
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    v = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    q = abs(v) >> 31
    return q if v >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent, rounded half away from zero."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)
