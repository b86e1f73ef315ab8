/* edgeconv C runtime: RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, int8 and int16, NHWC.
 *
 * Every source index and interpolation weight is computed at compile time
 * (edgeconv/lowering/ops/resize.py, replicating TFLite's index arithmetic) and passed as tables, so
 * the kernels hold no float and no division. */
#ifndef EC_RESIZE_H
#define EC_RESIZE_H

#include "ec_common.h"

typedef struct {
    int32_t batches, in_h, in_w, depth;
    int32_t out_h, out_w;
    /* (ec_common.h: references) */
    EC_CREF(int32_t) y_offset; /* [out_h]: source row * in_w * depth */
    EC_CREF(int32_t) x_offset; /* [out_w]: source column * depth */
} ec_resize_nearest_params_t;

typedef struct {
    int32_t batches, in_h, in_w, depth;
    int32_t out_h, out_w;
    /* [out_h][3]: top row, bottom row, and the Q10 fraction input_y - 1024 * top (the weight
     * of the bottom row; it may be negative where TFLite's half-pixel coordinate is). */
    EC_CREF(int32_t) y_table; /* a reference to constants (ec_common.h) */
    EC_CREF(int32_t) x_table; /* [out_w][3]: left column, right column, Q10 fraction */
} ec_resize_bilinear_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_resize_nearest_s8(const ec_resize_nearest_params_t *p, const int8_t *input, int8_t *output);
void ec_resize_nearest_s16(const ec_resize_nearest_params_t *p, const int16_t *input, int16_t *output);
void ec_resize_bilinear_s8(const ec_resize_bilinear_params_t *p, const int8_t *input, int8_t *output);
void ec_resize_bilinear_s16(const ec_resize_bilinear_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_RESIZE_H */
