/* edgeconv C runtime: CAST between integer types (TFLite Micro's cast.cc: static_cast per
 * element). Widening keeps the value; narrowing keeps the low bits (two's complement
 * wrap-around, what static_cast does on every TFLite target), computed without relying on
 * C's implementation-defined conversion to a narrower signed type. A bool input is 0 or 1.
 * No quantization parameters are involved: CAST is not a requantization.
 */
#ifndef EC_CAST_H
#define EC_CAST_H

#include "ec_common.h"

typedef struct {
    int32_t size; /* elements */
} ec_cast_params_t;

/* ec_cast_<from>_<to>: s8 int8_t, s16 int16_t, s32 int32_t, b bool (uint8_t, input only). One
 * entry point per pair: a firmware links only those its model calls (the runtime's headers list
 * them alike on purpose). */
void ec_cast_s8_s8(const ec_cast_params_t *p, const int8_t *input, int8_t *output);
void ec_cast_s8_s16(const ec_cast_params_t *p, const int8_t *input, int16_t *output);
void ec_cast_s8_s32(const ec_cast_params_t *p, const int8_t *input, int32_t *output);
void ec_cast_s16_s8(const ec_cast_params_t *p, const int16_t *input, int8_t *output);
void ec_cast_s16_s16(const ec_cast_params_t *p, const int16_t *input, int16_t *output);
void ec_cast_s16_s32(const ec_cast_params_t *p, const int16_t *input, int32_t *output);
void ec_cast_s32_s8(const ec_cast_params_t *p, const int32_t *input, int8_t *output);
void ec_cast_s32_s16(const ec_cast_params_t *p, const int32_t *input, int16_t *output);
void ec_cast_s32_s32(const ec_cast_params_t *p, const int32_t *input, int32_t *output);
void ec_cast_b_s8(const ec_cast_params_t *p, const uint8_t *input, int8_t *output);
void ec_cast_b_s16(const ec_cast_params_t *p, const uint8_t *input, int16_t *output);
void ec_cast_b_s32(const ec_cast_params_t *p, const uint8_t *input, int32_t *output);

#endif /* EC_CAST_H */
