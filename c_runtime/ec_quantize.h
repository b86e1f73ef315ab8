/* edgeconv C runtime: QUANTIZE from float32 (a float model input) to int8, uint8 or int16. */
#ifndef EC_QUANTIZE_H
#define EC_QUANTIZE_H

#include "ec_common.h"

/* ec_dequantize.h has the same fields for the opposite direction: each op keeps its own params
 * type and header. */
typedef struct {
    int32_t size; /* elements */
    float scale;  /* the output's scale */
    int32_t zero_point;
} ec_quantize_params_t;

/* q = clamp(round_half_away(x / scale) + zero_point), the division in float32. */
void ec_quantize_f32_s8(const ec_quantize_params_t *p, const float *input, int8_t *output);
void ec_quantize_f32_u8(const ec_quantize_params_t *p, const float *input, uint8_t *output);
void ec_quantize_f32_s16(const ec_quantize_params_t *p, const float *input, int16_t *output);

#endif /* EC_QUANTIZE_H */
