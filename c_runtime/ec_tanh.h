/* edgeconv C runtime: TANH, int8 in, int8 out (scale 1/128, zero point 0). */
#ifndef EC_TANH_H
#define EC_TANH_H

#include "ec_common.h"

typedef struct {
    int32_t size; /* elements */
    int32_t input_zp;
    int32_t input_range_radius; /* |x - zp| at or beyond this saturates to -1 or 1 */
    int32_t input_multiplier;   /* rescales x - zp to Q4 (4 integer bits) */
    int32_t input_shift;        /* frexp exponent: > 0 shifts left */
} ec_tanh_params_t;

/* ec_logistic.h declares the same fields for LOGISTIC: each op keeps its own params types, so
 * a firmware includes only its ops' headers. */
void ec_tanh_s8(const ec_tanh_params_t *p, const int8_t *input, int8_t *output);

/* int16 in and out (zero points 0, output scale 2^-15): TFLite's table-based int16 kernel. */
typedef struct {
    int32_t size;             /* elements */
    int32_t input_multiplier; /* x * multiplier >> shift puts x on the scale 1 / (3 * 4096) */
    int32_t input_shift;      /* right shift with rounding, 0..31 */
    /* (ec_common.h: a reference) */
    EC_CREF(uint16_t) sigmoid_table; /* TFLite's sigmoid_table_uint16: sigmoid(i / 24) in Q16, 256 entries */
} ec_tanh_s16_params_t;

void ec_tanh_s16(const ec_tanh_s16_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_TANH_H */
