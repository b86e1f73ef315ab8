/* edgeconv C runtime: SQUARED_DIFFERENCE for int8 and int16 with broadcasting. */
#ifndef EC_SQUARED_DIFFERENCE_H
#define EC_SQUARED_DIFFERENCE_H

#include "ec_common.h"

typedef struct {
    /* The broadcast loop nest (ec_common.h ec_broadcast_iter_t): output extents, outermost
     * first, and each input's element strides (0 along a broadcast dimension). */
    int32_t out_dims[EC_MAX_DIMS];
    int32_t in0_strides[EC_MAX_DIMS];
    int32_t in1_strides[EC_MAX_DIMS];
    int32_t in0_offset; /* -zero point */
    int32_t in1_offset;
    int32_t output_offset; /* + zero point */
    int32_t left_shift;    /* 7 (int8) or 0 (int16), as TFLite */
    int32_t in0_multiplier;
    int32_t in0_shift; /* <= 0 */
    int32_t in1_multiplier;
    int32_t in1_shift; /* <= 0 */
    int32_t output_multiplier;
    int32_t output_shift; /* in [-31, 30] */
} ec_squared_difference_params_t;

void ec_squared_difference_s8(const ec_squared_difference_params_t *p, const int8_t *in0, const int8_t *in1,
                              int8_t *out);
void ec_squared_difference_s16(const ec_squared_difference_params_t *p, const int16_t *in0, const int16_t *in1,
                               int16_t *out);

#endif /* EC_SQUARED_DIFFERENCE_H */
