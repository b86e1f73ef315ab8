/* edgeconv C runtime: AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16. */
#ifndef EC_POOLING_H
#define EC_POOLING_H

#include "ec_common.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} ec_pool_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_avg_pool_s8(const ec_pool_params_t *p, const int8_t *input, int8_t *output);
void ec_max_pool_s8(const ec_pool_params_t *p, const int8_t *input, int8_t *output);
void ec_avg_pool_s16(const ec_pool_params_t *p, const int16_t *input, int16_t *output);
void ec_max_pool_s16(const ec_pool_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_POOLING_H */
