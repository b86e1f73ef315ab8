/* edgeconv C runtime: LEAKY_RELU, x > 0 ? x : alpha * x, int8 or int16 in, the same out. */
#ifndef EC_LEAKY_RELU_H
#define EC_LEAKY_RELU_H

#include "ec_common.h"

/* The rescale fields of ec_relu_params_t and ec_requantize_params_t: each op keeps its own
 * params type and header. */
typedef struct {
    int32_t size; /* elements */
    int32_t input_zp;
    int32_t output_zp;
    int32_t identity_multiplier; /* input scale / output scale, Q31 */
    int32_t identity_shift;
    int32_t alpha_multiplier; /* |input scale * alpha / output scale|, Q31 */
    int32_t alpha_shift;
    int32_t alpha_negative; /* 1: alpha < 0, the scaled value is negated */
} ec_leaky_relu_params_t;

void ec_leaky_relu_s8(const ec_leaky_relu_params_t *p, const int8_t *input, int8_t *output);
void ec_leaky_relu_s16(const ec_leaky_relu_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_LEAKY_RELU_H */
