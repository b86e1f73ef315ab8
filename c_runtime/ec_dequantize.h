/* edgeconv C runtime: DEQUANTIZE int8/uint8/int16 -> float32 (a float model output). */
#ifndef EC_DEQUANTIZE_H
#define EC_DEQUANTIZE_H

#include "ec_common.h"

/* ec_quantize.h has the same fields for the opposite direction: each op keeps its own params
 * type and header. */
typedef struct {
    int32_t size; /* elements */
    float scale;  /* the input's scale */
    int32_t zero_point;
} ec_dequantize_params_t;

/* x = scale * (q - zero_point) */
void ec_dequantize_s8_f32(const ec_dequantize_params_t *p, const int8_t *input, float *output);
void ec_dequantize_u8_f32(const ec_dequantize_params_t *p, const uint8_t *input, float *output);
void ec_dequantize_s16_f32(const ec_dequantize_params_t *p, const int16_t *input, float *output);

#endif /* EC_DEQUANTIZE_H */
