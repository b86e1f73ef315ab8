/* edgeconv C runtime: the fixed-point arithmetic. This header is the one home of the
 * requantization helpers; every kernel uses these and none re-implements them.
 *
 * Semantics follow TFLite's reference kernels (double-rounding MultiplyByQuantizedMultiplier,
 * gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT) bit for bit, but are
 * written without undefined behaviour: products are formed in 64 bits, and the one place
 * where TFLite may overflow a signed int (x * (1 << left_shift)) wraps through uint32_t,
 * which is what TFLite's builds do in practice. The requantization used by every kernel per
 * output is the short exact sequence derived below (tests/c_runtime/test_requantize_fast.py checks it
 * against TFLite's arithmetic on host and on an emulated Cortex-M4).
 */
#ifndef EC_FIXEDPOINT_H
#define EC_FIXEDPOINT_H

#include "ec_common.h"

/* ---- Requantization: TFLite's MultiplyByQuantizedMultiplier ------------------------------
 *
 * TFLite (double-rounding build, the one TFLite Micro uses) computes
 *   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^left, m), right)
 * with left = max(shift, 0), right = max(-shift, 0). Every MAC kernel does this once per
 * output, so the sequence below is written to compile to about ten Thumb-2 instructions on
 * Armv7E-M / Armv8-M Mainline (SMULL and a few ALU operations, no 64-bit adds, no
 * sign-dependent branches; checked in the generated assembly), in plain portable C.
 *
 * 1. SaturatingRoundingDoublingHighMul(a, b): gemmlowp adds the nudge 2^30 when ab >= 0 and
 *    1 - 2^30 when ab < 0, then divides by 2^31 truncating toward zero. Both cases are one
 *    floor: for ab >= 0 the sum is >= 0 so truncation is floor((ab + 2^30) / 2^31); for ab < 0
 *    the sum is negative and truncation is ceil((ab + 1 - 2^30) / 2^31)
 *    = floor((ab + 1 - 2^30 + 2^31 - 1) / 2^31) = floor((ab + 2^30) / 2^31). With the 64-bit
 *    product split into hi (signed, bits 63..32) and lo (unsigned, bits 31..0):
 *      floor((ab + 2^30) / 2^31) = 2 * hi + bit31(lo) + bit30(lo)
 *    (floor(ab / 2^31) = 2 * hi + bit31(lo), and adding 2^30 carries into bit 31 exactly when
 *    bit 30 of lo is set). This is SMULL, UBFX and two adds. The result overflows int32 only
 *    for a == b == INT32_MIN (2^62 / 2^31 = 2^31), the one case gemmlowp saturates; the
 *    generic helper checks for it, the requantization below needs no check because its
 *    multiplier is never INT32_MIN (see ec_requantize).
 * 2. RoundingDivideByPOT(s, e) for e >= 1 (round half away from zero) is
 *      floor((s - [s < 0] + 2^(e-1)) / 2^e) = floor((floor((s - [s < 0]) / 2^(e-1)) + 1) / 2)
 *    (nested floors of integer divisions compose), i.e. y = s - [s < 0]; t = y >> (e - 1);
 *    result = (t >> 1) + (t & 1), the last step being floor((t + 1) / 2) without an addition
 *    that could overflow. Four instructions, plus one for e - 1 = ~shift.
 *
 * Right shifts of negative int32_t values are assumed arithmetic (sign-propagating), as in
 * the rest of the runtime: implementation-defined in C99, arithmetic on GCC, Clang, IAR and
 * Arm Compiler for every target we build. Left shifts and sums that could leave int32 go
 * through uint32_t (wrapping, never undefined); uint32_t -> int32_t conversions of values
 * >= 2^31 are implementation-defined and wrap modulo 2^32 on those compilers, as TFLite's
 * own x * (1 << left) does in practice. */

/* floor((a * b + 2^30) / 2^31) in 32 bits: gemmlowp's SaturatingRoundingDoublingHighMul for
 * every (a, b) except a == b == INT32_MIN, which wraps to INT32_MIN instead of saturating. */
static inline int32_t ec_rounding_doubling_high_mul_nosat(int32_t a, int32_t b) {
    const int64_t ab = (int64_t)a * (int64_t)b;
    const uint32_t lo = (uint32_t)ab;
    /* ab >> 32 is in [-2^30, 2^30]: the conversion is exact (and the shift arithmetic). */
    const uint32_t hi = (uint32_t)(int32_t)(ab >> 32);
    return (int32_t)((hi << 1) + (lo >> 31) + ((lo >> 30) & 1u));
}

/* round(a * b / 2^31), saturating the single overflow case a == b == INT32_MIN. */
static inline int32_t ec_sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    return ec_rounding_doubling_high_mul_nosat(a, b);
}

/* x / 2^exponent rounded to nearest, ties away from zero; 0 <= exponent <= 31. Any x. */
static inline int32_t ec_rounding_divide_by_pot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    /* >> of a negative int32_t is an arithmetic shift on every compiler we target. */
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* The same for 1 <= exponent <= 31 and x > INT32_MIN (see 2. above): five instructions.
 * (For x == INT32_MIN, x - 1 wraps and the result is wrong, but defined.) */
static inline int32_t ec_rounding_divide_by_pot_pos(int32_t x, int exponent) {
    const int32_t y = (int32_t)((uint32_t)x - ((uint32_t)x >> 31)); /* x - [x < 0] */
    const int32_t t = y >> (exponent - 1);
    return (t >> 1) + (t & 1);
}

/* The same again when the caller has proved |x| + 2^(exponent-1) <= INT32_MAX (headroom):
 * floor((x + 2^(exponent-1) - [x < 0]) / 2^exponent), three instructions. half is
 * 2^(exponent-1), hoisted by the caller; 1 <= exponent <= 31. */
static inline int32_t ec_rounding_divide_by_pot_headroom(int32_t x, int exponent, int32_t half) {
    return (x + half - (int32_t)((uint32_t)x >> 31)) >> exponent;
}

/* x << s on the bits, as TFLite's x * (1 << s) does: wraps instead of overflowing. */
static inline int32_t ec_shift_left_wrapping(int32_t x, int s) {
    return (int32_t)((uint32_t)x << s);
}

/* TFLite's MultiplyByQuantizedMultiplier: x * multiplier * 2^shift, shift in [-31, 30]; exact
 * for any x and any multiplier except INT32_MIN. Every multiplier the compiler emits is a
 * QuantizeMultiplier result with |m| < 2^31 (in [2^30, 2^31) or 0 from positive scales;
 * ops/base.py requantize_multiplier refuses anything else), so the product's high half never
 * saturates and the doubled high half is > INT32_MIN, as ec_rounding_divide_by_pot_pos needs:
 * |x * m| <= 2^31 * (2^31 - 1), so |floor((x * m + 2^30) / 2^31)| <= 2^31 - 1. */
static inline int32_t ec_requantize(int32_t x, int32_t multiplier, int shift) {
    if (shift >= 0) {
        return ec_rounding_doubling_high_mul_nosat(ec_shift_left_wrapping(x, shift), multiplier);
    }
    return ec_rounding_divide_by_pot_pos(ec_rounding_doubling_high_mul_nosat(x, multiplier), -shift);
}

/* MultiplyByQuantizedMultiplierSmallerThanOneExp: shift <= 0 (0 for multipliers in [1/2, 1)).
 * Same multiplier contract as ec_requantize. */
static inline int32_t ec_requantize_lt1(int32_t x, int32_t multiplier, int shift) {
    if (shift == 0) {
        return ec_rounding_doubling_high_mul_nosat(x, multiplier);
    }
    return ec_rounding_divide_by_pot_pos(ec_rounding_doubling_high_mul_nosat(x, multiplier), -shift);
}

/* MultiplyByQuantizedMultiplierGreaterThanOne: left_shift >= 0. Saturating as gemmlowp. */
static inline int32_t ec_requantize_gt1(int32_t x, int32_t multiplier, int left_shift) {
    return ec_sat_rounding_doubling_high_mul(ec_shift_left_wrapping(x, left_shift), multiplier);
}

/* ---- 64-bit requantization, for 16x8 kernels (int16 activations, int8 weights) ----------
 *
 * TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t m, int shift) (kernels/internal/
 * common.cc; the same code in its single- and double-rounding builds), which the 16x8
 * CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV / BATCH_MATMUL reference
 * kernels apply to their int64 accumulator (with an int32 accumulator they call the int32
 * overload, ec_requantize above: a different rounding). It first rounds the Q31 multiplier
 * to Q15,
 *     rm = m < 0x7FFF0000 ? (m + 2^15) >> 16 : 0x7FFF            (0 <= rm <= 0x7FFF)
 * and returns (int32_t)((x * rm + 2^(14 - shift)) >> (15 - shift)): x * rm / 2^(15 - shift)
 * rounded half UP (toward +infinity), not half away from zero as gemmlowp.
 *
 * Contract: m >= 0 (a QuantizeMultiplier result of a positive scale: [2^30, 2^31) or 0) and
 * -31 <= shift <= 14, so 1 <= 15 - shift <= 46 (TFLite asserts shift < 8; the lowering
 * refuses shift > 14, where TFLite's own shift would be undefined). TFLite asserts
 * |x| < 2^47, which makes x * rm + round fit int64 (< 2^62 + 2^45); lowerings prove that
 * bound at compile time from the bias and the weights (|bias| + 2^15 * sum|w| per channel).
 * For any other x the product and the sum wrap through uint64_t here (TFLite's release
 * builds wrap the same int64 arithmetic in practice), so no x is undefined behaviour. The
 * shifted value's int32_t conversion wraps modulo 2^32 as static_cast does; callers clamp
 * it to the activation range. Right shifts of negative int64_t are arithmetic on every
 * compiler we target (see the top of this file). */

/* The Q15 multiplier TFLite derives from a Q31 one; m >= 0. Hoist it out of loops, or
 * tabulate it at compile time. */
static inline int32_t ec_reduce_multiplier_q15(int32_t m) {
    return m < 0x7FFF0000 ? (m + ((int32_t)1 << 15)) >> 16 : 0x7FFF;
}

/* TFLite's 64-bit MultiplyByQuantizedMultiplier with the multiplier already reduced:
 * rm = ec_reduce_multiplier_q15(m) in [0, 0x7FFF], total_shift = 15 - shift in [1, 46]. */
static inline int32_t ec_requantize_s64_q15(int64_t x, int32_t rm, int total_shift) {
    const uint64_t prod = (uint64_t)x * (uint64_t)(uint32_t)rm; /* wraps; exact if |x| < 2^48 */
    const uint64_t sum = prod + ((uint64_t)1 << (total_shift - 1));
    const int64_t r = (int64_t)sum >> total_shift; /* uint64 -> int64 wraps on our compilers */
    return (int32_t)(uint32_t)(uint64_t)r;
}

/* TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t m, int shift), bit for bit
 * (contract above). */
static inline int32_t ec_requantize_s64(int64_t x, int32_t multiplier, int shift) {
    return ec_requantize_s64_q15(x, ec_reduce_multiplier_q15(multiplier), 15 - shift);
}

/* The same with the bias and the rounding term folded in at compile time, for kernels whose
 * accumulator is x = sum + bias: modulo 2^64 (TFLite's int64 arithmetic, wrapping as its
 * release builds do) x * rm + 2^(total_shift - 1) = sum * rm + folded, where the compiler
 * computes folded = bias * rm + 2^(total_shift - 1) modulo 2^64 (edgeconv/lowering/ops/mac.py
 * s16_folded_bias). Same 64-bit value, same shift, same result, one multiply-accumulate
 * (SMLAL for an int32 sum) fewer additions. ec_low32_asr64 gives the int32_t conversion of
 * the shifted value (its low word) without a 64-bit shift. */
static inline int32_t ec_low32_asr64(uint64_t r, int s) { /* 1 <= s <= 63 */
    const uint32_t lo = (uint32_t)r;
    const uint32_t hi = (uint32_t)(r >> 32);
    if (s < 32) {
        return (int32_t)((lo >> s) | (hi << (32 - s)));
    }
    return (int32_t)hi >> (s - 32); /* arithmetic: the sign bits of the int64 value */
}

static inline int32_t ec_requantize_s64_folded(int64_t sum, int32_t rm, int total_shift, int64_t folded) {
    return ec_low32_asr64((uint64_t)sum * (uint64_t)(uint32_t)rm + (uint64_t)folded, total_shift);
}

/* The same for an int32 sum: the product is exact in int64 (|sum * rm| < 2^46). */
static inline int32_t ec_requantize_s32_folded(int32_t sum, int32_t rm, int total_shift, int64_t folded) {
    return ec_low32_asr64((uint64_t)((int64_t)sum * rm) + (uint64_t)folded, total_shift);
}

/* ---- gemmlowp fixed-point math, for SOFTMAX, LOGISTIC and TANH -------------------------
 * A Q(k) value is an int32 raw with k integer bits and 31 - k fractional bits. Raw sums that
 * gemmlowp forms with a plain + are done here through uint32_t, which wraps instead of being
 * undefined; the inputs TFLite feeds never make them wrap. */

static inline int32_t ec_add_wrapping(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t ec_sub_wrapping(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* (a + b) / 2 rounded half away from zero. */
static inline int32_t ec_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* x * 2^exponent: saturating for exponent > 0, rounding for exponent < 0. */
static inline int32_t ec_sat_rounding_mul_by_pot(int32_t x, int exponent) {
    if (exponent > 0) {
        const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return ec_shift_left_wrapping(x, exponent);
    }
    if (exponent < 0) {
        return ec_rounding_divide_by_pot(x, -exponent);
    }
    return x;
}

/* exp(a) for a Q0 value a in [-1/4, 0): Taylor expansion around -1/8. */
static inline int32_t ec_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = ec_add_wrapping(a, (int32_t)1 << 28);
    const int32_t x2 = ec_sat_rounding_doubling_high_mul(x, x);
    const int32_t x3 = ec_sat_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = ec_sat_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = ec_rounding_divide_by_pot(x4, 2);
    const int32_t poly = ec_rounding_divide_by_pot(
        ec_add_wrapping(ec_sat_rounding_doubling_high_mul(ec_add_wrapping(x4_over_4, x3), constant_1_over_3), x2), 1);
    return ec_add_wrapping(constant_term, ec_sat_rounding_doubling_high_mul(constant_term, ec_add_wrapping(x, poly)));
}

/* exp(a) for a Q(integer_bits) value a <= 0; the result is Q0. */
static inline int32_t ec_exp_on_negative_values(int32_t a, int integer_bits) {
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = ec_sub_wrapping(a & mask, one_quarter);
    const int32_t remainder = ec_sub_wrapping(a_mod_quarter_minus_one_quarter, a);
    int32_t result = ec_exp_on_interval_between_negative_one_quarter_and_0_excl(
        ec_sat_rounding_mul_by_pot(a_mod_quarter_minus_one_quarter, integer_bits));
    int exponent;
    /* Barrel shifter: multiply by exp(-2^e) for each bit e of the remainder. */
    for (exponent = -2; exponent <= 4; ++exponent) {
        if (integer_bits > exponent) {
            const int shift_amount = fractional_bits + exponent;
            if (remainder & (int32_t)((uint32_t)1 << shift_amount)) {
                result = ec_sat_rounding_doubling_high_mul(result, multipliers[exponent + 2]);
            }
        }
    }
    if (integer_bits > 5) {
        const int32_t clamp = -(int32_t)((int64_t)1 << (36 - integer_bits)); /* -32.0 */
        if (a < clamp) {
            result = 0;
        }
    }
    if (a == 0) {
        result = INT32_MAX; /* one */
    }
    return result;
}

/* 1 / (1 + a) for a Q0 value a in [0, 1): Newton-Raphson; the result is Q0. */
/* Its Newton-Raphson core is ec_one_minus_x_over_one_plus_x_for_x_in_0_1's (below), written out
 * in each on purpose: a shared helper changed gcc's code for SOFTMAX, LOG_SOFTMAX and LOGISTIC
 * (objdump, cortex-m4 -O2 and cortex-m0plus -Os). */
static inline int32_t ec_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t half_denominator = ec_rounding_half_sum(a, INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;      /* Q2 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* Q2 */
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = ec_add_wrapping(constant_48_over_17,
                                ec_sat_rounding_doubling_high_mul(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = ec_sat_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus = ec_sub_wrapping(one_q2, half_denominator_times_x);
        x = ec_add_wrapping(x, ec_sat_rounding_mul_by_pot(ec_sat_rounding_doubling_high_mul(x, one_minus), 2));
    }
    return ec_sat_rounding_mul_by_pot(x, 1);
}

static inline int ec_count_leading_zeros_u32(uint32_t x) {
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* TFLite's CountLeadingSignBits for int32_t (__builtin_clrsb): how many bits below the sign
 * bit equal it, 31 for 0 and -1; x << result then still fits int32_t. u is x, or ~x for a
 * negative x (< 2^31 either way), so (u << 1) | 1 is nonzero and its leading zeros are the
 * answer: one CLZ where the compiler has it. */
static inline int ec_count_leading_sign_bits(int32_t x) {
    const uint32_t u = x < 0 ? ~(uint32_t)x : (uint32_t)x;
#if defined(__GNUC__) && defined(__SIZEOF_INT__) && __SIZEOF_INT__ == 4
    return __builtin_clz((u << 1) | 1u);
#else
    return ec_count_leading_zeros_u32((u << 1) | 1u);
#endif
}

/* TFLite's GetReciprocal: 1 / x for a Q(x_integer_digits) x > 0, as a Q0 value scaled by
 * 2^-num_bits_over_unit. SOFTMAX's wrapped sum of exps may be 0 (8192 equal logits sum to
 * exactly 2^32): TFLite then shifts by 32, undefined in C, but 0 shifted by any amount is 0
 * on every target, so 0 here. */
static inline int32_t ec_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    const int headroom_plus_one = ec_count_leading_zeros_u32((uint32_t)x); /* 0..32 */
    const uint32_t shifted = headroom_plus_one < 32 ? (uint32_t)x << headroom_plus_one : 0u;
    const int32_t shifted_sum_minus_one = (int32_t)(shifted - ((uint32_t)1 << 31));
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return ec_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

/* ---- gemmlowp logistic and tanh, for LOGISTIC and TANH ----------------------------------
 * Scalar transcriptions of gemmlowp's SIMD-style code: where gemmlowp computes both branches
 * and selects with a mask, these compute the selected branch only, which gives the same raw
 * value. Negations go through ec_sub_wrapping; the raws TFLite feeds are far from INT32_MIN. */

/* (1 - a) / (1 + a) for a Q0 value a in (0, 1): Newton-Raphson on the half denominator, as
 * gemmlowp's one_minus_x_over_one_plus_x_for_x_in_0_1; the result is Q0. */
/* The Newton-Raphson core of ec_one_over_one_plus_x_for_x_in_0_1 (above), written out again on
 * purpose: see there. */
static inline int32_t ec_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t half_denominator = ec_rounding_half_sum(a, INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;      /* Q2 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* Q2 */
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = ec_add_wrapping(constant_48_over_17,
                                ec_sat_rounding_doubling_high_mul(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = ec_sat_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus = ec_sub_wrapping(one_q2, half_denominator_times_x);
        x = ec_add_wrapping(x, ec_sat_rounding_mul_by_pot(ec_sat_rounding_doubling_high_mul(x, one_minus), 2));
    }
    /* Rescale<0>(x - 1) from Q2: a saturating left shift by 2. */
    return ec_sat_rounding_mul_by_pot(ec_sub_wrapping(x, one_q2), 2);
}

/* gemmlowp::logistic for a Q(integer_bits) raw a; the result is Q0 (1/2 is 1 << 30). */
static inline int32_t ec_logistic_q(int32_t a, int integer_bits) {
    int32_t abs_a;
    int32_t result_if_positive;
    if (a == 0) {
        return (int32_t)1 << 30;
    }
    abs_a = a > 0 ? a : ec_sub_wrapping(0, a);
    /* logistic(|a|) = 1 / (1 + exp(-|a|)), exp(-|a|) in (0, 1]. */
    result_if_positive =
        ec_one_over_one_plus_x_for_x_in_0_1(ec_exp_on_negative_values(ec_sub_wrapping(0, abs_a), integer_bits));
    return a > 0 ? result_if_positive : ec_sub_wrapping(INT32_MAX, result_if_positive);
}

/* gemmlowp::tanh for a Q(integer_bits) raw a; the result is Q0. tanh(|a|) is computed as
 * (1 - exp(-2|a|)) / (1 + exp(-2|a|)); the doubling is exact, reinterpreting the raw as
 * Q(integer_bits + 1) (gemmlowp's ExactMulByPot<1>). */
static inline int32_t ec_tanh_q(int32_t a, int integer_bits) {
    int32_t neg_abs;
    int32_t t;
    if (a == 0) {
        return 0;
    }
    neg_abs = a < 0 ? a : ec_sub_wrapping(0, a);
    t = ec_one_minus_x_over_one_plus_x_for_x_in_0_1(ec_exp_on_negative_values(neg_abs, integer_bits + 1));
    return a < 0 ? ec_sub_wrapping(0, t) : t;
}

/* ---- 16-bit fixed point, for HARD_SWISH --------------------------------------------------
 * TFLite's reference HardSwish works on int16_t values with gemmlowp's int16 overloads. Here
 * an int16 value travels in an int32_t; every helper takes values in int16 range and returns
 * one, doing the arithmetic in 32 bits and narrowing explicitly. */

/* The int16_t that a C++ narrowing conversion of x gives (two's complement wrap), without
 * relying on implementation-defined conversion. */
static inline int32_t ec_wrap_i16(int32_t x) {
    return (int32_t)(((uint32_t)x + 0x8000u) & 0xFFFFu) - 0x8000;
}

/* gemmlowp SaturatingRoundingDoublingHighMul<int16_t>: round(a * b / 2^15). */
static inline int32_t ec_sat_rounding_doubling_high_mul_i16(int32_t a, int32_t b) {
    int32_t ab;
    if (a == b && a == -32768) {
        return 32767;
    }
    ab = a * b; /* |a * b| <= 2^30 */
    /* C99 division truncates toward zero, as gemmlowp's does. */
    return (ab + (ab >= 0 ? ((int32_t)1 << 14) : (1 - ((int32_t)1 << 14)))) / ((int32_t)1 << 15);
}

/* TFLite's SaturatingDoublingHighMul (int16): a * b / 2^15 truncated toward zero, the SQDMULH
 * counterpart of the above, used where TFLite wants its bias to cancel the rounding one's. */
static inline int32_t ec_sat_doubling_high_mul_i16(int32_t a, int32_t b) {
    if (a == b && a == -32768) {
        return 32767;
    }
    return (a * b) / ((int32_t)1 << 15);
}

/* gemmlowp RoundingDivideByPOT<int16_t>(x, exponent), 0 <= exponent <= 31, including what its
 * int16 mask does for exponents above 15 (the mask (1 << exponent) - 1 narrows to -1). */
static inline int32_t ec_rounding_divide_by_pot_i16(int32_t x, int exponent) {
    const int32_t mask = ec_wrap_i16((int32_t)(((int64_t)1 << exponent) - 1));
    const int32_t remainder = x & mask;
    const int32_t threshold = ec_wrap_i16((mask >> 1) + (x < 0 ? 1 : 0));
    return ec_wrap_i16((x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* TFLite's SaturatingLeftShift (int16): x * 2^amount clamped to int16, amount >= 0. Any
 * amount of 16 or more saturates every nonzero int16, so the shift is capped there. */
static inline int32_t ec_sat_left_shift_i16(int32_t x, int amount) {
    const int64_t r = (int64_t)x * ((int64_t)1 << (amount < 16 ? amount : 16));
    return r > 32767 ? 32767 : (r < -32768 ? -32768 : (int32_t)r);
}

/* ---- int16 lookup tables with interpolation, for int16 SOFTMAX ---------------------------
 * TFLite's LUTLookup(int16_t, const int16_t *lut): a 513-entry table made at compile time
 * (quantize/fixedpoint.lut_populate_int16) covers the int16 range in 512 segments; the top 9
 * bits of the value pick a segment, the low 7 interpolate linearly with rounding. value is in
 * int16 range, so the index is 0..511. TFLite narrows the slope lut[i + 1] - lut[i] to int16_t
 * (ec_wrap_i16 does the same); |slope * offset| < 2^23 and the right shifts of negative values
 * are arithmetic, as everywhere in this runtime. */
static inline int32_t ec_lut_lookup_i16(int32_t value, EC_CREF(int16_t) lut) {
    const int32_t index = 256 + (value >> 7);
    const int32_t offset = value & 0x7f;
    const int32_t base = EC_C_S16(lut, index);
    const int32_t slope = ec_wrap_i16((int32_t)EC_C_S16(lut, index + 1) - base);
    const int32_t delta = (slope * offset + 64) >> 7;
    return ec_wrap_i16(base + delta);
}

/* ---- TFLite's saturating int32 add/sub, log(x) and 1/sqrt(x), for LOG_SOFTMAX, RSQRT and
 * L2_NORMALIZATION --------------------------------------------------------------------------
 * Transcriptions of kernels/internal/common.h (SaturatingAddNonGemmlowp, SaturatingSub,
 * log_x_for_x_greater_than_or_equal_to_1_impl, GetInvSqrtQuantizedMultiplierExp). */

static inline int32_t ec_sat_add_i32(int32_t a, int32_t b) {
    const int64_t s = (int64_t)a + (int64_t)b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

static inline int32_t ec_sat_sub_i32(int32_t a, int32_t b) {
    const int64_t s = (int64_t)a - (int64_t)b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

/* log(x) for a Q(input_integer_bits) raw x >= 1.0 (x > 0 is enough: TFLite's function is
 * symmetric down to 1 / x_max), as a Q(output_integer_bits) raw; the accumulation has one more
 * integer bit. TFLite's template arguments are run-time ints here; every exponent passed to
 * ec_sat_rounding_mul_by_pot is in [-31, 31] for x > 0 (headrooms 0..31), so no shift is out of
 * range. gemmlowp's plain + and - on raws wrap through uint32_t (ec_add_wrapping). */
static inline int32_t ec_log_x_for_x_ge_1(int32_t x, int input_integer_bits, int output_integer_bits) {
    const int accum_bits = output_integer_bits + 1;
    const int32_t log_2 = 1488522236;          /* log(2), Q0 */
    const int32_t sqrt_sqrt_half = 1805811301; /* 0.5^(1/4) */
    const int32_t sqrt_half = 1518500250;      /* sqrt(0.5) */
    const int32_t one_quarter = 536870912;
    const int32_t alpha_n = 117049297;  /* 11/240 * 2^(1/4) */
    const int32_t alpha_d = 127690142;  /* 1/20 * 2^(1/4) */
    const int32_t alpha_i = 1057819769; /* 2 / 2^(1/4) - 2^(1/4) */
    const int32_t alpha_f = 638450708;  /* 1/4 * 2^(1/4) */
    const int32_t shifted_quarter = ec_sat_rounding_mul_by_pot(one_quarter, -accum_bits);
    const int z_a_headroom_plus_1 = ec_count_leading_zeros_u32((uint32_t)x);
    const int32_t r_a_tmp = ec_sat_rounding_mul_by_pot(x, z_a_headroom_plus_1 - 1);
    const int32_t r_a_raw = ec_sat_rounding_mul_by_pot(ec_sat_rounding_doubling_high_mul(r_a_tmp, sqrt_half), 1);
    const int32_t z_a_pow_2_adj = ec_sat_add_i32(
        ec_sat_rounding_mul_by_pot(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits), shifted_quarter);
    const int32_t z_b = ec_sat_rounding_doubling_high_mul(x, sqrt_half);
    const int z_b_headroom = ec_count_leading_zeros_u32((uint32_t)z_b) - 1;
    const int32_t r_b_raw = ec_sat_rounding_mul_by_pot(x, z_b_headroom);
    const int32_t z_b_pow_2_adj =
        ec_sat_sub_i32(ec_sat_rounding_mul_by_pot(input_integer_bits - z_b_headroom, 31 - accum_bits), shifted_quarter);
    const int32_t r = ec_min_i32(r_a_raw, r_b_raw);
    const int32_t z_pow_2_adj = ec_max_i32(z_a_pow_2_adj, z_b_pow_2_adj);
    const int32_t p = ec_rounding_half_sum(r, sqrt_sqrt_half);
    const int32_t q0 = ec_sub_wrapping(r, sqrt_sqrt_half);
    const int32_t q = ec_add_wrapping(q0, q0);
    const int32_t common_sq = ec_sat_rounding_doubling_high_mul(q, q);
    const int32_t num =
        ec_add_wrapping(ec_sat_rounding_doubling_high_mul(q, r),
                        ec_sat_rounding_doubling_high_mul(ec_sat_rounding_doubling_high_mul(q, common_sq), alpha_n));
    const int32_t denom_minus_one_0 = ec_add_wrapping(
        ec_sat_rounding_doubling_high_mul(
            p, ec_add_wrapping(ec_add_wrapping(alpha_i, q), ec_sat_rounding_doubling_high_mul(alpha_d, common_sq))),
        ec_sat_rounding_doubling_high_mul(alpha_f, q));
    const int32_t recip_denom = ec_one_over_one_plus_x_for_x_in_0_1(denom_minus_one_0);
    const int32_t num_scaled = ec_sat_rounding_mul_by_pot(num, -accum_bits);
    return ec_sat_rounding_mul_by_pot(ec_add_wrapping(ec_sat_rounding_doubling_high_mul(z_pow_2_adj, log_2),
                                                      ec_sat_rounding_doubling_high_mul(num_scaled, recip_denom)),
                                      accum_bits - output_integer_bits);
}

/* TFLite's GetInvSqrtQuantizedMultiplierExp: 1 / sqrt(x) for x >= 0 as a Q31 multiplier and a
 * shift (times reverse_shift; TFLite's kernels pass kReverseShift = -1, making it a left
 * shift); x <= 1 gives (INT32_MAX, 0), as in TFLite. Newton-Raphson in Q3, five steps from 1.
 * The shifts stay in range: x is scaled into [2^27, 2^29) by an even left shift (x < 2^29
 * there); where TFLite shifts the result left (x < 32) it does so through uint32_t, and the
 * result never wraps (checked for every such x by quantize/fixedpoint.py's transcription). */
static inline void ec_inv_sqrt_quantized_multiplier_exp(int32_t x, int reverse_shift, int32_t *multiplier, int *shift) {
    const int32_t half_three = ((int32_t)1 << 28) + ((int32_t)1 << 27); /* 1.5 in Q3 */
    int32_t half_input;
    int32_t v = (int32_t)1 << 28; /* 1.0 in Q3 */
    int s = 11;
    int pairs;
    int i;
    if (x <= 1) {
        *multiplier = INT32_MAX;
        *shift = 0;
        return;
    }
    while (x >= ((int32_t)1 << 29)) {
        x /= 4;
        ++s;
    }
    pairs = (ec_count_leading_zeros_u32((uint32_t)x) - 1) / 2 - 1; /* >= 0: x < 2^29 */
    s -= pairs;
    x = (int32_t)((uint32_t)x << (2 * pairs)); /* now in [2^27, 2^29) */
    half_input = ec_rounding_divide_by_pot(x >> 1, 1);
    for (i = 0; i < 5; ++i) {
        const int32_t v3 = ec_sat_rounding_mul_by_pot(
            ec_sat_rounding_doubling_high_mul(ec_sat_rounding_doubling_high_mul(v, v), v), 6);
        v = ec_sat_rounding_mul_by_pot(ec_sub_wrapping(ec_sat_rounding_doubling_high_mul(half_three, v),
                                                       ec_sat_rounding_doubling_high_mul(half_input, v3)),
                                       3);
    }
    v = ec_sat_rounding_doubling_high_mul(v, 1518500250); /* times sqrt(2) / 2 */
    if (s < 0) {
        v = ec_shift_left_wrapping(v, -s);
        s = 0;
    }
    *multiplier = v;
    *shift = s * reverse_shift;
}

#endif /* EC_FIXEDPOINT_H */
