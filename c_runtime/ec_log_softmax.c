/* edgeconv C runtime: LOG_SOFTMAX for int8, bit-exact with TFLite Micro's
 * reference_ops::LogSoftmaxQuantized (reference/log_softmax.h): per row, the differences to
 * the row maximum rescaled to Q5, the sum of their exps in Q12, its log in Q5, and each output
 * (diff - log sum) taken from Q5 to the output's Q4 (scale 16/256) around 127.
 *
 * Ranges (checked at compile time in edgeconv/lowering/ops/log_softmax.py):
 * - diff = x - max is in [-255, 0]; it is rescaled only when diff >= diff_min, TFLite's input
 *   radius, so |diff| * 2^input_left_shift <= 31 * 2^26: the Q5 value is in [-31, 0] and the
 *   left shift cannot wrap (ec_requantize; with a left shift of 31 only diff 0 is rescaled).
 * - Each exp is at most 1.0 in Q0 (raw 2^31 - 1), at most 2^19 in Q12; depth <= 4095 keeps the
 *   Q12 sum below 2^31 (TFLite's plain int32 sum would overflow beyond), and the maximum's own
 *   exp(0) = 1.0 makes it at least 2^19, so its log is in [0, log(4095)] (Q5 raw below
 *   8.4 * 2^26) and log_sum + INT32_MIN does not overflow.
 * - diff_in_q5 - log_sum is above -40 * 2^26 > INT32_MIN; divided by 2^22 it is in [-640, 0],
 *   plus 127, clamped to int8. */
#include "ec_log_softmax.h"
#include "ec_fixedpoint.h"

enum { EC_LOG_SOFTMAX_INPUT_BITS = 5, EC_LOG_SOFTMAX_ACCUM_BITS = 12, EC_LOG_SOFTMAX_OUTPUT_BITS = 4 };

/* Its row prologue is ec_softmax_s8's (ec_softmax.c); the arithmetic after it is TFLite's
 * LogSoftmax, so each op keeps its own loop and file. */
void ec_log_softmax_s8(const ec_log_softmax_params_t *p, const int8_t *input, int8_t *output) {
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = input + r * p->depth;
        int8_t *out = output + r * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        int32_t log_sum, adjusted_diff_min;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = ec_max_i32(max_in_row, x[c]);
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t q5 = ec_requantize(diff, p->input_multiplier, (int)p->input_left_shift);
                sum_of_exps += ec_sat_rounding_mul_by_pot(ec_exp_on_negative_values(q5, EC_LOG_SOFTMAX_INPUT_BITS),
                                                          -EC_LOG_SOFTMAX_ACCUM_BITS);
            }
        }
        log_sum = ec_log_x_for_x_ge_1(sum_of_exps, EC_LOG_SOFTMAX_ACCUM_BITS, EC_LOG_SOFTMAX_INPUT_BITS);
        adjusted_diff_min =
            ec_max_i32(p->diff_min - 1, ec_requantize(ec_add_wrapping(log_sum, INT32_MIN), p->reverse_scaling_divisor,
                                                      (int)p->reverse_scaling_shift));
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff > adjusted_diff_min) {
                const int32_t q5 = ec_requantize(diff, p->input_multiplier, (int)p->input_left_shift);
                const int32_t y = ec_rounding_divide_by_pot(q5 - log_sum, 31 - EC_LOG_SOFTMAX_INPUT_BITS -
                                                                              EC_LOG_SOFTMAX_OUTPUT_BITS) +
                                  127;
                out[c] = (int8_t)ec_clamp_i32(y, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}
