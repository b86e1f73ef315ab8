/* edgeconv C runtime: DEQUANTIZE int8/uint8/int16 -> float32, bit-exact with TFLite's reference
 * Dequantize (what TFLite Micro runs): static_cast<float>(double(scale) * (q - zero_point)).
 *
 * That double product is exact (a 24-bit scale times an integer of at most 9 bits, or 17 for
 * int16: at most 41 significant bits of double's 53; the integer itself is exact in float), so
 * TFLite rounds the exact product to float once. A float32 multiplication also rounds the
 * exact product once, to the same float, so no double arithmetic is needed. */
#include "ec_dequantize.h"

void ec_dequantize_s8_f32(const ec_dequantize_params_t *p, const int8_t *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
    }
}

void ec_dequantize_u8_f32(const ec_dequantize_params_t *p, const uint8_t *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
    }
}

void ec_dequantize_s16_f32(const ec_dequantize_params_t *p, const int16_t *input, float *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
    }
}
