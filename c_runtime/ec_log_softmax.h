/* edgeconv C runtime: LOG_SOFTMAX for int8 along the last dimension (output scale 16/256, zero
 * point 127, as TFLite requires). */
#ifndef EC_LOG_SOFTMAX_H
#define EC_LOG_SOFTMAX_H

#include "ec_common.h"

typedef struct {
    int32_t rows;                    /* elements / depth */
    int32_t depth;                   /* last dimension, 1..4095 */
    int32_t input_multiplier;        /* input scale * 2^26, Q31 ... */
    int32_t input_left_shift;        /* ... and its left shift, 1..31 */
    int32_t reverse_scaling_divisor; /* 2^(31 - left shift) / multiplier, Q31 ... */
    int32_t reverse_scaling_shift;   /* ... and its shift, <= 0 */
    int32_t diff_min;                /* -(input radius): only diff >= diff_min is rescaled */
} ec_log_softmax_params_t;

void ec_log_softmax_s8(const ec_log_softmax_params_t *p, const int8_t *input, int8_t *output);

#endif /* EC_LOG_SOFTMAX_H */
