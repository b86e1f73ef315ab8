/* edgeconv C runtime: PRELU, x >= 0 ? x : alpha * x with a constant int8 alpha tensor
 * broadcast against the input, int8 in, int8 out. */
#ifndef EC_PRELU_H
#define EC_PRELU_H

#include "ec_common.h"

typedef struct {
    int32_t dims[EC_MAX_DIMS];          /* output shape, right-aligned, leading 1s */
    int32_t input_strides[EC_MAX_DIMS]; /* element strides; 0 along broadcast dimensions */
    int32_t alpha_strides[EC_MAX_DIMS];
    int32_t input_zp;
    int32_t alpha_zp;
    int32_t output_zp;
    int32_t identity_multiplier; /* input scale / output scale, Q31 */
    int32_t identity_shift;
    int32_t alpha_multiplier; /* input scale * alpha scale / output scale, Q31 */
    int32_t alpha_shift;
    EC_CREF(int8_t) alpha; /* a reference to constants (ec_common.h) */
} ec_prelu_params_t;

void ec_prelu_s8(const ec_prelu_params_t *p, const int8_t *input, int8_t *output);
/* int16 input and output with the same int8 alpha (TFLite Micro's 16x8 PRELU). */
void ec_prelu_s16(const ec_prelu_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_PRELU_H */
