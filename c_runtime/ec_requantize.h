/* edgeconv C runtime: QUANTIZE between integer types: int8 -> int8 (new scale or zero point),
 * uint8 -> int8 and int8 -> uint8 (the converter's uint8 model inputs and outputs), and
 * int8 <-> int16, int16 -> int16 (16x8 models). */
#ifndef EC_REQUANTIZE_H
#define EC_REQUANTIZE_H

#include "ec_common.h"

/* The rescale fields of ec_relu_params_t and ec_leaky_relu_params_t: each op keeps its own
 * params type and header. */
typedef struct {
    int32_t size; /* elements */
    int32_t input_zp;
    int32_t output_zp;
    int32_t multiplier; /* input scale / output scale, Q31 */
    int32_t shift;
} ec_requantize_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_requantize_s8_s8(const ec_requantize_params_t *p, const int8_t *input, int8_t *output);
void ec_requantize_u8_s8(const ec_requantize_params_t *p, const uint8_t *input, int8_t *output);
void ec_requantize_s8_u8(const ec_requantize_params_t *p, const int8_t *input, uint8_t *output);
void ec_requantize_s8_s16(const ec_requantize_params_t *p, const int8_t *input, int16_t *output);
void ec_requantize_s16_s8(const ec_requantize_params_t *p, const int16_t *input, int8_t *output);
void ec_requantize_s16_s16(const ec_requantize_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_REQUANTIZE_H */
