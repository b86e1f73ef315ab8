/* edgeconv C runtime: SOFTMAX for int8, bit-exact with TFLite's reference Softmax: exp of
 * the rescaled differences to the row maximum in gemmlowp fixed point (Q5 in, Q0 out), their
 * sum in Q12, one reciprocal per row. */
#include "ec_softmax.h"
#include "ec_fixedpoint.h"

enum { EC_SOFTMAX_DIFF_BITS = 5, EC_SOFTMAX_ACCUM_BITS = 12 };

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
                    sum_of_exps, ec_rounding_divide_by_pot(
                                     ec_exp_on_negative_values(scaled, EC_SOFTMAX_DIFF_BITS),
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
                const int32_t unsat =
                    ec_rounding_divide_by_pot(ec_sat_rounding_doubling_high_mul(shifted_scale, e), exponent);
                out[c] = (int8_t)ec_clamp_i32(unsat - 128, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}
