/* edgeconv C runtime: HARD_SWISH, x * relu6(x + 3) / 6, int8 in, int8 out. */
#ifndef EC_HARD_SWISH_H
#define EC_HARD_SWISH_H

#include "ec_common.h"

typedef struct {
    int32_t size; /* elements */
    int32_t input_zp;
    int32_t output_zp;
    /* (input scale / 128) / output scale as a Q15 multiplier and a right shift (exponent <= 0) */
    int32_t output_multiplier;
    int32_t output_exponent;
    /* (input scale / 128) / (3 / 32768): maps x to the scale on which 3.0 is 32768 */
    int32_t reluish_multiplier;
    int32_t reluish_exponent;
} ec_hard_swish_params_t;

void ec_hard_swish_s8(const ec_hard_swish_params_t *p, const int8_t *input, int8_t *output);

#endif /* EC_HARD_SWISH_H */
