/* edgeconv C runtime: REDUCE_MAX and REDUCE_MIN over any set of axes (raw values: the input
 * and output share their quantization), int8 and int16. */
#ifndef EC_REDUCE_H
#define EC_REDUCE_H

#include "ec_common.h"

typedef struct {
    /* The input shape right-aligned into EC_MAX_DIMS dimensions (leading 1s). */
    int32_t dims[EC_MAX_DIMS];
    /* Per input dimension, its step in the output: 0 along a reduced axis. */
    int32_t out_strides[EC_MAX_DIMS];
    int32_t num_outputs;
} ec_reduce_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_reduce_max_s8(const ec_reduce_params_t *p, const int8_t *input, int8_t *output);
void ec_reduce_min_s8(const ec_reduce_params_t *p, const int8_t *input, int8_t *output);
void ec_reduce_max_s16(const ec_reduce_params_t *p, const int16_t *input, int16_t *output);
void ec_reduce_min_s16(const ec_reduce_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_REDUCE_H */
