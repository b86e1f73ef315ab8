/* edgeconv C runtime: QUANTIZE float32 -> int8/uint8/int16, bit-exact with TFLite's reference
 * AffineQuantize (what TFLite Micro runs): static_cast<int32_t>(TfLiteRound(x / scale)) +
 * zero_point, clamped, with the division in float32 (TFLite casts its double scale to float).
 *
 * This file (with ec_dequantize.c) is the only place float arithmetic exists in the runtime;
 * only models with float32 inputs use it. No libm: the rounding is done by hand. */
#include "ec_quantize.h"

/* TfLiteRound (std::round on float: half away from zero), converted to int32_t. Below 2^23 in
 * magnitude the truncation to int32 and the fraction x - trunc(x) are both exact in float;
 * from 2^23 on every float is an integer already. Out of int32 range TFLite's conversion is
 * undefined (TFLite Micro on x86 gives INT32_MIN); here it saturates and NaN gives 0 (so the
 * zero point), which is what the conversion gives on an Arm FPU (VCVT). */
static int32_t ec_round_f32_to_i32(float x) {
    if (x > -8388608.0f && x < 8388608.0f) {
        int32_t i = (int32_t)x; /* toward zero */
        const float frac = x - (float)i;
        if (frac >= 0.5f) {
            ++i;
        } else if (frac <= -0.5f) {
            --i;
        }
        return i;
    }
    if (x >= 2147483648.0f) {
        return INT32_MAX;
    }
    if (x <= -2147483648.0f) {
        return INT32_MIN;
    }
    if (x != x) {
        return 0;
    }
    return (int32_t)x;
}

/* x / scale rounded plus the zero point, clamped to [lo, hi]; the sum in 64 bits so that a
 * saturated rounding cannot overflow. */
static int32_t ec_quantize_one(const ec_quantize_params_t *p, float x, int32_t lo, int32_t hi) {
    const float scaled = x / p->scale; /* assigned to a float: rounded to float32 in C99 */
    const int64_t q = (int64_t)ec_round_f32_to_i32(scaled) + p->zero_point;
    return q < lo ? lo : (q > hi ? hi : (int32_t)q);
}

void ec_quantize_f32_s8(const ec_quantize_params_t *p, const float *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)ec_quantize_one(p, input[i], -128, 127);
    }
}

void ec_quantize_f32_u8(const ec_quantize_params_t *p, const float *input, uint8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (uint8_t)ec_quantize_one(p, input[i], 0, 255);
    }
}

void ec_quantize_f32_s16(const ec_quantize_params_t *p, const float *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)ec_quantize_one(p, input[i], -32768, 32767);
    }
}
