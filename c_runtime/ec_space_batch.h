/* edgeconv C runtime: SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, int8, 3-D or 4-D
 * (a 3-D NHC tensor is handled as NH1C, as TFLite does). */
#ifndef EC_SPACE_BATCH_H
#define EC_SPACE_BATCH_H

#include "ec_common.h"

typedef struct {
    int32_t in_b, in_h, in_w, depth;
    int32_t out_b, out_h, out_w;
    int32_t block_h, block_w;
    int32_t pad_top, pad_left; /* SPACE_TO_BATCH_ND: leading paddings */
    int32_t pad_value;         /* SPACE_TO_BATCH_ND: what padded positions hold */
} ec_space_to_batch_params_t;

typedef struct {
    int32_t in_b, in_h, in_w, depth;
    int32_t out_b, out_h, out_w;
    int32_t block_h, block_w;
    int32_t crop_top, crop_left; /* leading crops */
} ec_batch_to_space_params_t;

void ec_space_to_batch_s8(const ec_space_to_batch_params_t *p, const int8_t *input, int8_t *output);
void ec_batch_to_space_s8(const ec_batch_to_space_params_t *p, const int8_t *input, int8_t *output);

#endif /* EC_SPACE_BATCH_H */
