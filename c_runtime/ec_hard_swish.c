/* edgeconv C runtime: HARD_SWISH for int8, bit-exact with TFLite's reference_ops::HardSwish
 * (what TFLite Micro runs). TFLite computes in int16 fixed point: x - zp is moved to a 7-bit
 * finer "hires" scale, a "relu-ish" factor relu6(x + 3) / 6 in [0, 1] is formed in Q15 with
 * saturation at x = +-3, and the product is rescaled to the output. Every int16 step is done
 * in int32 by the ec_*_i16 helpers and narrowed the way TFLite's int16_t variables narrow. */
#include "ec_hard_swish.h"
#include "ec_fixedpoint.h"

void ec_hard_swish_s8(const ec_hard_swish_params_t *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        /* |x - zp| <= 255, so the hires value (times 128) fits int16. */
        const int32_t hires = ((int32_t)input[i] - p->input_zp) * 128;
        const int32_t preshift_output = ec_sat_rounding_doubling_high_mul_i16(hires, p->output_multiplier);
        int32_t reluish = hires;
        int32_t out;
        /* A left exponent is applied as (exponent - 1) saturating shifts, the multiplier, then
         * one more saturating shift: saturation, if any, happens at the last step only. */
        if (p->reluish_exponent > 0) {
            reluish = ec_sat_left_shift_i16(reluish, (int)p->reluish_exponent - 1);
        }
        reluish = ec_sat_rounding_doubling_high_mul_i16(reluish, p->reluish_multiplier);
        if (p->reluish_exponent > 0) {
            reluish = ec_sat_left_shift_i16(reluish, 1);
        }
        if (p->reluish_exponent < 0) {
            reluish = ec_rounding_divide_by_pot_i16(reluish, (int)-p->reluish_exponent);
        }
        /* [-1, 1] in Q15 to [0, 1] in Q15. */
        reluish = (reluish + 32768) >> 1;
        /* Truncating (not rounding) high mul: TFLite picks it to cancel the rounding bias above. */
        out = ec_sat_doubling_high_mul_i16(reluish, preshift_output);
        out = ec_rounding_divide_by_pot_i16(out, (int)-p->output_exponent);
        out = ec_wrap_i16(out + p->output_zp); /* TFLite adds in int16_t */
        output[i] = (int8_t)ec_clamp_i32(out, -128, 127);
    }
}
