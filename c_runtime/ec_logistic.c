/* edgeconv C runtime: LOGISTIC for int8, bit-exact with TFLite's reference_integer_ops::Logistic
 * (what TFLite Micro runs): the input, rescaled to a Q4 fixed-point value, goes through
 * gemmlowp's fixed-point logistic; the Q0 result in [0, 1] is rounded to 8 fractional bits.
 * Inputs whose magnitude reaches the radius would overflow Q4 and saturate instead. */
#include "ec_logistic.h"
#include "ec_fixedpoint.h"

enum { EC_LOGISTIC_INPUT_INTEGER_BITS = 4, EC_LOGISTIC_OUTPUT_INTEGER_BITS = 8 };

/* ec_tanh_s8 (ec_tanh.c) has the same saturating shape around ec_tanh_q: kept apart so each op
 * is one file that a firmware links alone. */
void ec_logistic_s8(const ec_logistic_params_t *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zp;
        if (x <= -p->input_range_radius) {
            output[i] = -128;
        } else if (x >= p->input_range_radius) {
            output[i] = 127;
        } else {
            /* Inside the radius |x| * 2^shift < 15 * 2^27, so the rescale cannot overflow. */
            const int32_t x_q4 = ec_requantize(x, p->input_multiplier, (int)p->input_shift);
            const int32_t y_q0 = ec_logistic_q(x_q4, EC_LOGISTIC_INPUT_INTEGER_BITS);
            const int32_t y = ec_rounding_divide_by_pot(y_q0, 31 - EC_LOGISTIC_OUTPUT_INTEGER_BITS);
            output[i] = (int8_t)ec_clamp_i32(y - 128, -128, 127);
        }
    }
}

/* LOGISTIC for int16, bit-exact with TFLite's reference_integer_ops::Logistic(int16) (what
 * TFLite Micro runs): x is rescaled so that 2^17 stands for 10.7 (the lowering folds
 * TFLite's power-of-two case into multiplier 3, shift 0), then sigmoid(|x|) is interpolated
 * in TFLite's 256-entry table on 9 fractional bits and mirrored for x < 0.
 * Ranges: TFLite's Prepare gives multiplier <= 32767 whenever the shift is positive (the
 * rounding term is then at most 2^30 and |input * multiplier| < 2^30), and the lowering
 * refuses a multiplier above 65535 at shift 0, so the sum fits int32 and |x| < 2^31. The table rises from 32768 to
 * 65535: the interpolation stays below 2^25 in uint32_t and the result, shifted back by 10 bits, is in [0, 32767]. */
void ec_logistic_s16(const ec_logistic_s16_params_t *p, const int16_t *input, int16_t *output) {
    const int shift = (int)p->input_shift;
    const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = ((int32_t)input[i] * p->input_multiplier + round) >> shift;
        const uint32_t abs_x = (uint32_t)(x >= 0 ? x : -x);
        const uint32_t uh = abs_x >> 9;
        uint32_t result;
        if (uh >= 255) {
            result = (uint32_t)0x7FFF << 10; /* saturated */
        } else {
            const uint32_t ua = EC_C_U16(p->sigmoid_table, uh);
            const uint32_t ub = EC_C_U16(p->sigmoid_table, uh + 1);
            result = (ua << 9) + (abs_x & 0x1FFu) * (ub - ua);
        }
        result = x >= 0 ? result + ((uint32_t)1 << 9) : ((uint32_t)1 << 25) - result + ((uint32_t)1 << 9) - 1u;
        output[i] = (int16_t)(result >> 10);
    }
}
