/* edgeconv C runtime: TRANSPOSE, int8, up to EC_MAX_DIMS dimensions. */
#ifndef EC_TRANSPOSE_H
#define EC_TRANSPOSE_H

#include "ec_common.h"

typedef struct {
    /* The output shape, simplified at compile time (size-1 axes dropped, axes that stay
     * adjacent merged) and right-aligned into EC_MAX_DIMS dimensions (leading 1s). */
    int32_t out_dims[EC_MAX_DIMS];
    /* For each output dimension, the input stride (in elements) it walks along. */
    int32_t in_strides[EC_MAX_DIMS];
} ec_transpose_params_t;

void ec_transpose_s8(const ec_transpose_params_t *p, const int8_t *input, int8_t *output);

#endif /* EC_TRANSPOSE_H */
