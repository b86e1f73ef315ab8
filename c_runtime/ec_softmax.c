/* edgeconv C runtime: SOFTMAX for int8, bit-exact with TFLite's reference Softmax: exp of
 * the rescaled differences to the row maximum in gemmlowp fixed point (Q5 in, Q0 out), their
 * sum in Q12, one reciprocal per row.
 *
 * Ranges, step by step (checked at compile time in edgeconv/lowering/ops/softmax.py where it matters):
 * - diff = x - max lies in [-255, 0]; only diff >= diff_min is rescaled, and diff_min is
 *   TFLite's input radius, so |diff| * 2^input_left_shift <= 31 * 2^26 < 2^31: the rescale
 *   neither wraps nor saturates, and its result is a Q5 value in [-32, 0].
 * - Each exp is a Q0 value in [0, 1], i.e. a raw <= 2^31 - 1; divided by 2^12 it is <= 2^19.
 *   The row's sum is TFLite's int32 sum in Q12: beyond 4095 terms of exp(0) it leaves int32.
 *   TFLite adds with a plain int32 + (which wraps on its builds); here it wraps through
 *   uint32_t, so every depth has a defined sum equal to TFLite's.
 * - The reciprocal's exponent is num_bits_over_unit + 23 = 35 - clz(sum), in [3, 35]. It is
 *   32 or more when the sum is 2^28 (512 exps of 1) or more, or wrapped negative: TFLite's
 *   RoundingDivideByPOT then shifts by 32..35. That is undefined in C; TFLite Micro's x86
 *   build stops on gemmlowp's assert(exponent <= 31) (it aborts), and Cortex-M or x86 release
 *   builds give different garbage. Here the division is exact instead: the dividend
 *   round(shifted_scale * exp / 2^31) is in [0, 2^31), so divided by 2^32 or more and
 *   rounded it is 0, and the output is -128 (probability 0). For an unwrapped sum that is also
 *   the true value: each probability is then at most 1/512, below half an output step. */
#include "ec_softmax.h"
#include "ec_fixedpoint.h"

enum { EC_SOFTMAX_DIFF_BITS = 5, EC_SOFTMAX_ACCUM_BITS = 12 };

/* ec_softmax_s8_s16 below is its int16-output twin, and ec_log_softmax_s8 opens its rows the
 * same way: kept apart so a firmware links only the op and output type it uses. */
void ec_softmax_s8(const ec_softmax_params_t *p, const int8_t *input, int8_t *output) {
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = input + r * p->depth;
        int8_t *out = output + r * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        int num_bits_over_unit;
        int32_t shifted_scale;
        int exponent;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = ec_max_i32(max_in_row, x[c]);
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ec_requantize_gt1(diff, p->input_multiplier, (int)p->input_left_shift);
                sum_of_exps = ec_add_wrapping(
                    sum_of_exps, ec_rounding_divide_by_pot(ec_exp_on_negative_values(scaled, EC_SOFTMAX_DIFF_BITS),
                                                           EC_SOFTMAX_ACCUM_BITS));
            }
        }
        shifted_scale = ec_get_reciprocal(sum_of_exps, EC_SOFTMAX_ACCUM_BITS, &num_bits_over_unit);
        exponent = num_bits_over_unit + 31 - 8;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ec_requantize_gt1(diff, p->input_multiplier, (int)p->input_left_shift);
                const int32_t e = ec_exp_on_negative_values(scaled, EC_SOFTMAX_DIFF_BITS);
                /* exponent >= 32: see the top of this file. */
                const int32_t unsat =
                    exponent > 31
                        ? 0
                        : ec_rounding_divide_by_pot(ec_sat_rounding_doubling_high_mul(shifted_scale, e), exponent);
                out[c] = (int8_t)ec_clamp_i32(unsat - 128, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}

/* int8 in, int16 out: ec_softmax_s8 with 16 output bits, exponent num_bits_over_unit + 15.
 * The lowering refuses depth >= 8192, so the Q12 sum (each exp at most 2^19) is at least the
 * maximum's exp, about 2^19, or has wrapped once to a negative int32: clz(sum) is 0..12 and
 * the exponent 15..27, inside TFLite's TFLITE_CHECK(0 <= exponent <= 31) (a sum wrapped past
 * 2^32 could fail that check, which aborts TFLite Micro). */
/* The int16-output twin of ec_softmax_s8 above (exponent 31 - 16, int16 clamp): kept apart so
 * a firmware links only the output type it uses. */
void ec_softmax_s8_s16(const ec_softmax_params_t *p, const int8_t *input, int16_t *output) {
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = input + r * p->depth;
        int16_t *out = output + r * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        int num_bits_over_unit;
        int32_t shifted_scale;
        int exponent;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = ec_max_i32(max_in_row, x[c]);
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ec_requantize_gt1(diff, p->input_multiplier, (int)p->input_left_shift);
                sum_of_exps = ec_add_wrapping(
                    sum_of_exps, ec_rounding_divide_by_pot(ec_exp_on_negative_values(scaled, EC_SOFTMAX_DIFF_BITS),
                                                           EC_SOFTMAX_ACCUM_BITS));
            }
        }
        shifted_scale = ec_get_reciprocal(sum_of_exps, EC_SOFTMAX_ACCUM_BITS, &num_bits_over_unit);
        exponent = num_bits_over_unit + 31 - 16;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ec_requantize_gt1(diff, p->input_multiplier, (int)p->input_left_shift);
                const int32_t e = ec_exp_on_negative_values(scaled, EC_SOFTMAX_DIFF_BITS);
                const int32_t unsat =
                    ec_rounding_divide_by_pot(ec_sat_rounding_doubling_high_mul(shifted_scale, e), exponent);
                out[c] = (int16_t)ec_clamp_i32(unsat - 32768, -32768, 32767);
            } else {
                out[c] = -32768;
            }
        }
    }
}

/* SOFTMAX for int16, bit-exact with TFLite Micro's reference_ops::SoftmaxInt16: each
 * difference to the row maximum, in [-65535, 0], is rescaled so that [-10, 0] spans the
 * int16 range, then exp() is read from a 513-entry table with interpolation; the reciprocal
 * of the sum comes from a second table. Both tables are TFLite Micro's own (LUTPopulate in
 * float, replicated at compile time by edgeconv/lowering/ops/softmax.py).
 *
 * Ranges (checked at compile time where it matters):
 * - The rescale is ec_requantize (TFLite's MultiplyByQuantizedMultiplier, left shift wrapping
 *   as its x * (1 << shift) does); + 32767 wraps the same way, then saturates to int16.
 * - Each exp is a table value in [0, 32767] and the maximum's is at least 32762, so the row's
 *   int32 sum is in [32762, depth * 32767]: the lowering refuses depth > 65538, where TFLite's
 *   sum could overflow. Hence clz(sum) = headroom_plus_one is in [1, 17] and the final right
 *   shift 31 - headroom_plus_one in [14, 30].
 * - As TFLite does, the exps are kept in the output row until the reciprocal is known. */
void ec_softmax_s16(const ec_softmax_s16_params_t *p, const int16_t *input, int16_t *output) {
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int16_t *x = input + r * p->depth;
        int16_t *out = output + r * p->depth;
        int32_t max_in_row = -32768;
        int32_t sum_of_exps = 0;
        int headroom_plus_one;
        int32_t shifted_sum;
        int32_t reciprocal;
        int right_shift;
        int64_t round;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = ec_max_i32(max_in_row, x[c]);
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            const int32_t scaled = ec_requantize(diff, p->input_multiplier, (int)p->input_shift);
            const int32_t sym = ec_clamp_i32(ec_add_wrapping(scaled, 32767), -32768, 32767);
            const int32_t e = ec_lut_lookup_i16(sym, p->exp_lut);
            out[c] = (int16_t)e;
            sum_of_exps += e;
        }
        headroom_plus_one = ec_count_leading_zeros_u32((uint32_t)sum_of_exps);
        /* Normalised to [2^16, 2^17]: 1 + x with x in [0, 1] on 16 fractional bits. */
        shifted_sum = (int32_t)((((int64_t)sum_of_exps << (headroom_plus_one - 1)) + ((int64_t)1 << 13)) >> 14);
        /* x recentred from [0, 65535] to the table's [-32768, 32767]. */
        reciprocal =
            ec_lut_lookup_i16(ec_clamp_i32(shifted_sum - (((int32_t)1 << 15) + ((int32_t)1 << 16)), -32768, 32767),
                              p->one_over_one_plus_x_lut);
        right_shift = 31 - headroom_plus_one;
        round = (int64_t)1 << (right_shift - 1);
        for (c = 0; c < p->depth; ++c) {
            const int32_t y = (int32_t)(((int64_t)out[c] * reciprocal + round) >> right_shift);
            out[c] = (int16_t)ec_clamp_i32(y, 0, 32767);
        }
    }
}
