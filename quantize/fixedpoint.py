"""Compile-time fixed-point helpers: the Python side of TFLite's quantization_util.

These compute, in double precision exactly as TFLite does, the Q31 multipliers and shifts that
the C runtime (c_runtime/ec_fixedpoint.h) applies at run time. Where TFLite forms a product of
two float32 scales in float32 before widening, callers pass np.float32 values and say so.
"""

from __future__ import annotations

import functools
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
            raise ValueError(
                f"the fused activation's bound {x:g} divided by the output scale {scale:g} "
                "does not fit int32 (TFLite refuses it)"
            )
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


# ---- TFLite's int16 lookup tables (LUTPopulate<int16_t>, kernels/internal/common.h) ---------


def _roundf(x: np.float32) -> np.float32:
    """roundf (TfLiteRound on a float): half away from zero, exact on float32 values."""
    return np.float32(tflite_round(float(x)))


def lut_populate_int16(
    transform, input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int
) -> np.ndarray:
    """TFLite's detail::LUTPopulateInt16<float>: the 513-entry int16 table of `transform` over
    the int16 input range, every step in float32 as TFLite does it (no fused multiply-add, as
    on its x86-64 and Cortex-M builds). `transform` takes and returns np.float32, computing
    what TFLite's float lambda computes (e.g. expf, correctly rounded). The table is read by
    ec_lut_lookup_i16 (c_runtime/ec_fixedpoint.h): 512 segments, interpolated on 7 bits."""
    f = np.float32
    with np.errstate(all="ignore"):
        input_scale, output_scale = f(input_scale), f(output_scale)
        input_min = input_scale * f(-32768 - input_zero_point)
        input_max = input_scale * f(32767 - input_zero_point)
        output_min = output_scale * f(-32768 - output_zero_point)
        output_max = output_scale * f(32767 - output_zero_point)
        nb_steps = 512
        step = (input_max - input_min) / f(nb_steps)
        half_step = step / f(2)
        scaling_inv = f(65536) / (output_max - output_min)
        lut = np.zeros(nb_steps + 1, dtype=np.int16)
        for i in range(nb_steps):
            x = input_min + f(i) * step
            val = f(transform(x))
            val_midpoint = f(transform(x + half_step))
            val_next = f(transform(input_min + f(i + 1) * step))
            sample_val = _roundf(val * scaling_inv)
            midpoint_interp_val = _roundf((val_next * scaling_inv + _roundf(val * scaling_inv)) / f(2))
            midpoint_val = _roundf(val_midpoint * scaling_inv)
            midpoint_err = midpoint_interp_val - midpoint_val
            bias = _roundf(midpoint_err / f(2))
            lut[i] = int(min(max(float(sample_val - bias), -32768.0), 32767.0))
        last = _roundf(f(transform(input_max)) * scaling_inv)
        lut[nb_steps] = int(min(max(float(last), -32768.0), 32767.0))
    return lut


def expf(x: np.float32) -> np.float32:
    """expf correctly rounded (the exact value rounded once to float32, via double)."""
    return np.float32(math.exp(float(x)))


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLite's CheckedLog2 in float32: (x is a power of two within 1e-3 in log2, round(log2 x)),
    with log2 as logf(x) * (1 / logf(2)) as TFLite forms it."""
    f = np.float32
    x_log2 = f(math.log(float(f(x)))) * (f(1.0) / f(math.log(2.0)))
    rounded = _roundf(x_log2)
    return bool(abs(x_log2 - rounded) < f(1e-3)), int(rounded)


def wrap_int32(x: int) -> int:
    """x modulo 2^32 as a signed int32: what TFLite's builds give where a C int32 overflows."""
    return ((int(x) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding), as ec_requantize computes it:
    x * 2^max(shift, 0) wraps in int32 (TFLite's x * (1 << left_shift)), shift in [-31, 30]."""
    left, right = max(shift, 0), max(-shift, 0)
    if left > 30 or right > 31:
        raise ValueError(f"shift {shift} is outside [-31, 30]")
    high = saturating_rounding_doubling_high_mul(wrap_int32(x << left), multiplier)
    return rounding_divide_by_pot(high, right) if right else high


def saturating_rounding_multiply_by_pot(x: int, exponent: int) -> int:
    """gemmlowp's SaturatingRoundingMultiplyByPOT (and TFLite's ...Param): x * 2^exponent,
    saturating to int32 for exponent > 0, rounding half away from zero for exponent < 0."""
    if exponent > 0:
        threshold = (1 << (31 - exponent)) - 1
        if x > threshold:
            return (1 << 31) - 1
        if x < -threshold:
            return -(1 << 31)
        return x << exponent
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    return x


def count_leading_zeros_u32(x: int) -> int:
    x &= 0xFFFFFFFF
    return 32 - x.bit_length()


def inv_sqrt_quantized_multiplier_exp(x: int, reverse_shift: int = -1) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp: 1 / sqrt(x) as (Q31 multiplier, shift) for an
    int32 x >= 0 (0 and 1 give (2^31 - 1, 0)); reverse_shift -1 (kReverseShift) makes the shift
    a left shift. The Newton-Raphson iteration is gemmlowp's, in Q3 (c_runtime/ec_fixedpoint.h
    ec_inv_sqrt_quantized_multiplier_exp is the same code in C). Where TFLite shifts the result
    left (x < 32), the shift is done modulo 2^32 as its builds do; it never wraps for x >= 2."""
    if x <= 1:
        return (1 << 31) - 1, 0
    shift = 11
    while x >= (1 << 29):
        x //= 4
        shift += 1
    max_left_shift_bits = count_leading_zeros_u32(x) - 1
    left_shift_bit_pairs = max_left_shift_bits // 2 - 1
    shift -= left_shift_bit_pairs
    x <<= 2 * left_shift_bit_pairs
    srdhm = saturating_rounding_doubling_high_mul
    half_input = rounding_divide_by_pot(x >> 1, 1)  # SaturatingRoundingMultiplyByPOT<-1>, Q3
    half_three = (1 << 28) + (1 << 27)  # 1.5 in Q3
    v = 1 << 28  # 1.0 in Q3
    for _ in range(5):
        v3 = saturating_rounding_multiply_by_pot(srdhm(srdhm(v, v), v), 6)  # Q9 -> Q3
        v = saturating_rounding_multiply_by_pot(wrap_int32(srdhm(half_three, v) - srdhm(half_input, v3)), 3)
    v = srdhm(v, 1518500250)  # times sqrt(2) / 2 (Q0)
    if shift < 0:
        v = wrap_int32(v << -shift)
        shift = 0
    return v, shift * reverse_shift


# ---- TFLite's int8 lookup tables (LUTPopulate<int8_t>; TFLite Micro's ELU PopulateLookupTable) -


@functools.cache
def libm_float(name: str):
    """The C library's float32 function `name` (expf, expm1f, erfcf, tanhf, ...), which TFLite's
    float lambdas call through std::exp(float) etc.: the references on this host use these very
    functions, which are not correctly rounded (glibc's erfcf, tanhf and expm1f differ from the
    correctly rounded value on a few percent of inputs), so tables built with them equal the
    references' bit for bit. Without a C library (ctypes finds none) the correctly rounded value
    (double, rounded once) stands in."""
    import ctypes
    import ctypes.util

    path = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    fn = getattr(ctypes.CDLL(path), name, None) if path else None
    if fn is not None:
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        return lambda x: np.float32(fn(float(x)))
    double = getattr(math, name[:-1])  # expf -> math.exp

    def fallback(x):
        with np.errstate(all="ignore"):
            try:
                return np.float32(double(float(x)))
            except OverflowError:
                return np.float32(math.inf)

    return fallback


def lut_populate_int8(
    transform, input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int
) -> np.ndarray:
    """TFLite's detail::LUTPopulateInt8<int8_t> (and TFLite Micro's ELU PopulateLookupTable,
    the same arithmetic): the 256-entry table of `transform` (np.float32 -> np.float32), indexed
    by the input's bits as uint8 (entry 0 is input 0, entry 255 input -1), every step in float32:
    dequantized = s_in * float(v - zp_in); rescaled = roundf(f(dequantized) * (1 / s_out));
    q = (int32)(rescaled + zp_out), clamped to int8. ValueError where TFLite's float-to-int32
    conversion is undefined (NaN, or beyond int32): its result there depends on the build."""
    f = np.float32
    with np.errstate(all="ignore"):
        s_in, inverse_scale = f(input_scale), f(1) / f(output_scale)
        table = np.zeros(256, dtype=np.int8)
        for v in range(-128, 128):
            transformed = f(transform(s_in * f(v - input_zero_point)))
            rescaled = (
                f(tflite_round(float(transformed * inverse_scale)))
                if math.isfinite(transformed * inverse_scale)
                else transformed * inverse_scale
            )
            q = rescaled + f(output_zero_point)
            if not (math.isfinite(q) and -(2.0**31) <= float(q) < 2.0**31):
                raise ValueError(f"input {v} gives {float(q):g} before the conversion to int32")
            table[v & 0xFF] = min(max(int(q), -128), 127)
    return table


# ---- gemmlowp's reciprocal (TFLite's GetReciprocal), for DIV's per-divisor table -------------


def rounding_half_sum(a: int, b: int) -> int:
    """gemmlowp's RoundingHalfSum on int32: (a + b) / 2 rounded half away from zero."""
    s = a + b + (1 if a + b >= 0 else -1)
    return s // 2 if s >= 0 else -((-s) // 2)


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """gemmlowp's one_over_one_plus_x_for_x_in_0_1 on a Q0 raw a (Newton-Raphson in Q2; the raw
    sums wrap as TFLite's builds wrap them, which only happens for a = INT32_MIN: the zero
    divisor), as c_runtime/ec_fixedpoint.h ec_one_over_one_plus_x_for_x_in_0_1 computes it."""
    srdhm = saturating_rounding_doubling_high_mul
    half_denominator = rounding_half_sum(a, (1 << 31) - 1)
    x = wrap_int32(1515870810 + srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d (Q2)
    for _ in range(3):
        one_minus = wrap_int32((1 << 29) - srdhm(half_denominator, x))
        x = wrap_int32(x + saturating_rounding_multiply_by_pot(srdhm(x, one_minus), 2))
    return saturating_rounding_multiply_by_pot(x, 1)


def get_reciprocal(x: int, x_integer_digits: int) -> tuple[int, int]:
    """TFLite's GetReciprocal: (Q0 raw of 1 / x normalized, num_bits_over_unit). x = 0 shifts
    0 left by 32 bits in TFLite (undefined in C, 0 on every target), as ec_get_reciprocal does."""
    headroom_plus_one = count_leading_zeros_u32(x)
    shifted = ((x & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF if headroom_plus_one < 32 else 0
    return one_over_one_plus_x_for_x_in_0_1(wrap_int32(shifted - (1 << 31))), x_integer_digits - headroom_plus_one


def count_leading_sign_bits(x: int) -> int:
    """TFLite's CountLeadingSignBits for an int32 x (__builtin_clrsb: 31 for 0 and -1)."""
    return 31 - (x if x >= 0 else ~x).bit_length()
