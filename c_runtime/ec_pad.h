/* edgeconv C runtime: PAD and PADV2 (constant padding), int8, int16 and int32, up to 5
 * dimensions. */
#ifndef EC_PAD_H
#define EC_PAD_H

#include "ec_common.h"

#define EC_PAD_MAX_DIMS 5 /* TFLite's PadKernelMaxDimensionCount() */

typedef struct {
    /* Shapes right-aligned into 5 dimensions (leading 1s), paddings likewise (leading 0s). */
    int32_t in_dims[EC_PAD_MAX_DIMS];
    int32_t out_dims[EC_PAD_MAX_DIMS];
    int32_t left[EC_PAD_MAX_DIMS];
    int32_t right[EC_PAD_MAX_DIMS];
    int32_t pad_value; /* PAD: the output zero point (int8) or 0; PADV2: the constant operand */
} ec_pad_params_t;

void ec_pad_s8(const ec_pad_params_t *p, const int8_t *input, int8_t *output);
void ec_pad_s16(const ec_pad_params_t *p, const int16_t *input, int16_t *output);
void ec_pad_s32(const ec_pad_params_t *p, const int32_t *input, int32_t *output);

#endif /* EC_PAD_H */
