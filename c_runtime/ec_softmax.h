/* edgeconv C runtime: SOFTMAX, int8 in, int8 out (scale 1/256, zero point -128). */
#ifndef EC_SOFTMAX_H
#define EC_SOFTMAX_H

#include "ec_common.h"

typedef struct {
    int32_t rows;  /* product of all but the last dimension */
    int32_t depth; /* last dimension */
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min; /* differences below this give exp() == 0 at 8-bit output */
} ec_softmax_params_t;

void ec_softmax_s8(const ec_softmax_params_t *p, const int8_t *input, int8_t *output);

#endif /* EC_SOFTMAX_H */
