/* edgeconv C runtime: LEAKY_RELU for int8, bit-exact with TFLite's reference QuantizeLeakyRelu
 * (what TFLite Micro runs): x - zp >= 0 is rescaled by the identity multiplier, x - zp < 0 by
 * alpha's. A negative alpha is applied as the negation of the product with |multiplier|, as
 * TFLite does, which differs from multiplying by a negative multiplier at rounding ties.
 * Sums wrap (ec_add_wrapping) where TFLite's int32 sums would overflow for absurd scales. */
#include "ec_leaky_relu.h"
#include "ec_fixedpoint.h"

/* ec_leaky_relu_s16 below is its int16 twin: kept apart, not one static helper, because gcc -Os
 * does not inline that helper on Cortex-M0+ and would call it per element. */
void ec_leaky_relu_s8(const ec_leaky_relu_params_t *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zp;
        int32_t y;
        if (x >= 0) {
            y = ec_add_wrapping(p->output_zp, ec_requantize(x, p->identity_multiplier, (int)p->identity_shift));
        } else {
            const int32_t scaled = ec_requantize(x, p->alpha_multiplier, (int)p->alpha_shift);
            y = ec_add_wrapping(p->output_zp, p->alpha_negative ? ec_sub_wrapping(0, scaled) : scaled);
        }
        output[i] = (int8_t)ec_clamp_i32(y, -128, 127);
    }
}

/* int16: the same arithmetic (TFLite Micro's QuantizeLeakyRelu<int16_t>); x - zp fits in 17
 * bits and ec_requantize is exact for any int32 x. */
/* Kept apart from ec_leaky_relu_s8 above: see there. */
void ec_leaky_relu_s16(const ec_leaky_relu_params_t *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zp;
        int32_t y;
        if (x >= 0) {
            y = ec_add_wrapping(p->output_zp, ec_requantize(x, p->identity_multiplier, (int)p->identity_shift));
        } else {
            const int32_t scaled = ec_requantize(x, p->alpha_multiplier, (int)p->alpha_shift);
            y = ec_add_wrapping(p->output_zp, p->alpha_negative ? ec_sub_wrapping(0, scaled) : scaled);
        }
        output[i] = (int16_t)ec_clamp_i32(y, -32768, 32767);
    }
}
