/* edgeconv C runtime: SELECT_V2 and SELECT (condition ? x : y, raw values) for int8 and int16, with the
 * three inputs broadcast against each other. */
#ifndef EC_SELECT_H
#define EC_SELECT_H

#include "ec_common.h"

typedef struct {
    /* The loop nest over the output, outermost first (unused leading entries 1), and each
     * input's element strides per loop (0 along a broadcast dimension). */
    int32_t out_dims[EC_MAX_DIMS];
    int32_t cond_strides[EC_MAX_DIMS];
    int32_t x_strides[EC_MAX_DIMS];
    int32_t y_strides[EC_MAX_DIMS];
} ec_select_params_t;

void ec_select_s8(const ec_select_params_t *p, const uint8_t *cond, const int8_t *x, const int8_t *y, int8_t *out);
void ec_select_s16(const ec_select_params_t *p, const uint8_t *cond, const int16_t *x, const int16_t *y, int16_t *out);

#endif /* EC_SELECT_H */
