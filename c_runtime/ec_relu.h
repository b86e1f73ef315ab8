/* edgeconv C runtime: RELU and RELU6, int8 or int16 in, the same type out. */
#ifndef EC_RELU_H
#define EC_RELU_H

#include "ec_common.h"

/* The rescale fields of ec_requantize_params_t and ec_leaky_relu_params_t: each op keeps its own
 * params type and header. */
typedef struct {
    int32_t size; /* elements */
    int32_t input_zp;
    int32_t output_zp;
    int32_t multiplier; /* input scale / output scale, Q31 */
    int32_t shift;
    int32_t act_min; /* the output zero point (real 0), at least the type's minimum */
    int32_t act_max;
} ec_relu_params_t;

/* RELU: requantize to the output scale, then clamp below at real 0. */
void ec_relu_s8(const ec_relu_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t size;  /* elements */
    int32_t lower; /* the input zero point (real 0) */
    int32_t upper; /* real 6 on the input scale, clamped to the type */
} ec_relu6_params_t;

/* RELU6: clamp to [lower, upper] on the input's scale; no requantization (TFLite Micro's). */
void ec_relu6_s8(const ec_relu6_params_t *p, const int8_t *input, int8_t *output);

/* The same for int16 (16x8 models; TFLite Micro requires RELU's int16 zero points to be 0). */
void ec_relu_s16(const ec_relu_params_t *p, const int16_t *input, int16_t *output);
void ec_relu6_s16(const ec_relu6_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_RELU_H */
