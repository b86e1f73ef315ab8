/* edgeconv C runtime: LOGISTIC for int8, bit-exact with TFLite's reference_integer_ops::Logistic
 * (what TFLite Micro runs): the input, rescaled to a Q4 fixed-point value, goes through
 * gemmlowp's fixed-point logistic; the Q0 result in [0, 1] is rounded to 8 fractional bits.
 * Inputs whose magnitude reaches the radius would overflow Q4 and saturate instead. */
#include "ec_logistic.h"
#include "ec_fixedpoint.h"

enum { EC_LOGISTIC_INPUT_INTEGER_BITS = 4, EC_LOGISTIC_OUTPUT_INTEGER_BITS = 8 };

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
