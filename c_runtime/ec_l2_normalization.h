/* edgeconv C runtime: L2_NORMALIZATION for int8 along the last dimension (output scale 1/128,
 * zero point 0). */
#ifndef EC_L2_NORMALIZATION_H
#define EC_L2_NORMALIZATION_H

#include "ec_common.h"

typedef struct {
    int32_t rows;  /* elements / depth */
    int32_t depth; /* last dimension; depth * max|x - zp|^2 fits int32 (compile-time check) */
    int32_t input_zp;
} ec_l2_normalization_params_t;

void ec_l2_normalization_s8(const ec_l2_normalization_params_t *p, const int8_t *input, int8_t *output);

#endif /* EC_L2_NORMALIZATION_H */
