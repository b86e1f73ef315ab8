/* edgeconv C runtime: MUL, int8 and int16, with numpy-style broadcasting. */
#ifndef EC_MUL_H
#define EC_MUL_H

#include "ec_common.h"

/* ec_add.h opens its params with the same broadcast fields: each op keeps its own params type
 * and header. */
typedef struct {
    /* The loop nest over the output, outermost first, after the compiler merged contiguous
     * dimensions; unused leading entries are 1. Strides are in elements, 0 on a dimension an
     * input broadcasts along. The output is written contiguously. */
    int32_t out_dims[EC_MAX_DIMS];
    int32_t in0_strides[EC_MAX_DIMS];
    int32_t in1_strides[EC_MAX_DIMS];
    int32_t in0_offset, in1_offset;          /* -zero_point of each input */
    int32_t output_offset;                   /* output zero point */
    int32_t output_multiplier, output_shift; /* in0_scale * in1_scale / out_scale, Q31 */
    int32_t act_min, act_max;
} ec_mul_params_t;

void ec_mul_s8(const ec_mul_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out);
/* int16 (16x8 models): TFLite requires every zero point 0, so the offsets are 0. */
void ec_mul_s16(const ec_mul_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out);

#endif /* EC_MUL_H */
