/* edgeconv C runtime: TANH for int8, bit-exact with TFLite's reference_integer_ops::Tanh (what
 * TFLite Micro runs): the input, rescaled to a Q4 fixed-point value, goes through gemmlowp's
 * fixed-point tanh; the Q0 result in [-1, 1] is rounded to 7 fractional bits. Inputs whose
 * magnitude reaches the radius would overflow Q4 and saturate instead. */
#include "ec_tanh.h"
#include "ec_fixedpoint.h"

enum { EC_TANH_INPUT_INTEGER_BITS = 4, EC_TANH_OUTPUT_FRACTIONAL_BITS = 7 };

/* ec_logistic_s8 (ec_logistic.c) has the same saturating shape around ec_logistic_q: kept
 * apart so each op is one file that a firmware links alone. */
void ec_tanh_s8(const ec_tanh_params_t *p, const int8_t *input, int8_t *output) {
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
            const int32_t y_q0 = ec_tanh_q(x_q4, EC_TANH_INPUT_INTEGER_BITS);
            const int32_t y = ec_rounding_divide_by_pot(y_q0, 31 - EC_TANH_OUTPUT_FRACTIONAL_BITS);
            output[i] = (int8_t)ec_clamp_i32(y, -128, 127);
        }
    }
}

/* TANH for int16, bit-exact with TFLite's reference_integer_ops::Tanh(int16) (what TFLite
 * Micro runs): tanh(x) = 2 * sigmoid(2x) - 1 from the same sigmoid table as LOGISTIC, read on
 * 8 fractional bits (the doubling), x rescaled as there (the lowering folds TFLite's
 * power-of-two case into multiplier 3 << shift, shift 0).
 * Ranges: as LOGISTIC's; the interpolation is below 2^24, so the signed result before the
 * final arithmetic shift by 8 is within +-2^23 and the output in [-32767, 32767]. */
void ec_tanh_s16(const ec_tanh_s16_params_t *p, const int16_t *input, int16_t *output) {
    const int shift = (int)p->input_shift;
    const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = ((int32_t)input[i] * p->input_multiplier + round) >> shift;
        const uint32_t abs_x = (uint32_t)(x >= 0 ? x : -x);
        const uint32_t uh = abs_x >> 8;
        int32_t result;
        if (uh >= 255) {
            result = (int32_t)0xFFFF << 8; /* saturated */
        } else {
            const uint32_t ua = EC_C_U16(p->sigmoid_table, uh);
            const uint32_t ub = EC_C_U16(p->sigmoid_table, uh + 1);
            result = (int32_t)((ua << 8) + (abs_x & 0xFFu) * (ub - ua));
        }
        result = x >= 0 ? result - ((int32_t)1 << 23) + (1 << 7) : -result + ((int32_t)1 << 23) + (1 << 7) - 1;
        output[i] = (int16_t)(result >> 8);
    }
}
