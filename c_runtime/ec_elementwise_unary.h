/* edgeconv C runtime: TFLite Micro's int16 ABS and RSQRT (elementwise.cc), whose int16 inputs
 * are too many to tabulate (their int8 forms are tables: ec_lut). TFLite Micro requires zero
 * points 0 on both sides for int16. */
#ifndef EC_ELEMENTWISE_UNARY_H
#define EC_ELEMENTWISE_UNARY_H

#include "ec_common.h"

typedef struct {
    int32_t size;
    int32_t needs_rescale; /* input scale != output scale (compared in float32, as TFLite) */
    int32_t multiplier;    /* input scale / output scale, Q31 (unused without rescale) */
    int32_t shift;
} ec_abs_params_t;

typedef struct {
    int32_t size;
    int32_t multiplier; /* 1 / (sqrt(input scale) * output scale), Q31 */
    int32_t shift;      /* TFLite's shift - 20 (kShift), in [-31, 30] */
    int32_t output_zp;
} ec_rsqrt_params_t;

void ec_abs_s16(const ec_abs_params_t *p, const int16_t *input, int16_t *output);
void ec_rsqrt_s16(const ec_rsqrt_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_ELEMENTWISE_UNARY_H */
