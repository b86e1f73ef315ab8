/* edgeconv C runtime: RELU and RELU6 for int8, bit-exact with TFLite Micro.
 *
 * RELU is TFLite Micro's ReluQuantized: output_zp + MultiplyByQuantizedMultiplier(x - input_zp),
 * clamped to [max(-128, output_zp), 127]. RELU6 is its Relu6Quantized, which clamps the raw
 * input to the quantized 0 and 6 of the *input* and copies it: TFLite Micro assumes the input
 * and output share quantization and does not rescale (TFLite's reference kernel does). */
#include "ec_relu.h"
#include "ec_fixedpoint.h"

/* ec_relu_s16 and ec_relu6_s16 below are the int16 twins: kept apart so a firmware links only
 * the type it uses. */
void ec_relu_s8(const ec_relu_params_t *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t y =
            ec_add_wrapping(p->output_zp, ec_requantize((int32_t)input[i] - p->input_zp, p->multiplier, (int)p->shift));
        output[i] = (int8_t)ec_clamp_i32(y, p->act_min, p->act_max);
    }
}

void ec_relu6_s8(const ec_relu6_params_t *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)ec_clamp_i32(input[i], p->lower, p->upper);
    }
}

/* int16: the same arithmetic (TFLite Micro's ReluQuantized<int16_t>, Relu6Quantized<int16_t>).
 * x - input_zp fits in 17 bits; ec_requantize is exact for any int32 x. */
/* Kept apart from the int8 pair above: see there. */
void ec_relu_s16(const ec_relu_params_t *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t y =
            ec_add_wrapping(p->output_zp, ec_requantize((int32_t)input[i] - p->input_zp, p->multiplier, (int)p->shift));
        output[i] = (int16_t)ec_clamp_i32(y, p->act_min, p->act_max);
    }
}

void ec_relu6_s16(const ec_relu6_params_t *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)ec_clamp_i32(input[i], p->lower, p->upper);
    }
}
