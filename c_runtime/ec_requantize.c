/* edgeconv C runtime: integer QUANTIZE, bit-exact with TFLite's reference Requantize (what
 * TFLite Micro runs): output_zp + MultiplyByQuantizedMultiplier(x - input_zp), clamped.
 * TFLite's fast path for the same scale and a zero-point shift of 128 (x ^ 0x80) gives the
 * same values as this general path, so it needs no special case. For int16 inputs x - input_zp
 * is at most 65535 in magnitude (an int32 difference); the rescaling's left shift and the zero
 * point's addition wrap as TFLite's builds do (ec_requantize, ec_add_wrapping), then the clamp
 * to the output type. Kept apart from
 * ec_quantize.c so that integer-only models (uint8 inputs) carry no float code. */
#include "ec_requantize.h"
#include "ec_fixedpoint.h"

static int32_t ec_requantize_one(const ec_requantize_params_t *p, int32_t x) {
    return ec_add_wrapping(ec_requantize(x - p->input_zp, p->multiplier, (int)p->shift), p->output_zp);
}

/* One function per type pair, each the same one-line loop: a firmware links only the pairs its
 * model uses. */
void ec_requantize_s8_s8(const ec_requantize_params_t *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)ec_clamp_i32(ec_requantize_one(p, input[i]), -128, 127);
    }
}

void ec_requantize_u8_s8(const ec_requantize_params_t *p, const uint8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)ec_clamp_i32(ec_requantize_one(p, input[i]), -128, 127);
    }
}

void ec_requantize_s8_u8(const ec_requantize_params_t *p, const int8_t *input, uint8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (uint8_t)ec_clamp_i32(ec_requantize_one(p, input[i]), 0, 255);
    }
}

/* The int16 pairs: the same loop (see ec_requantize_s8_s8). */
void ec_requantize_s8_s16(const ec_requantize_params_t *p, const int8_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)ec_clamp_i32(ec_requantize_one(p, input[i]), -32768, 32767);
    }
}

void ec_requantize_s16_s8(const ec_requantize_params_t *p, const int16_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)ec_clamp_i32(ec_requantize_one(p, input[i]), -128, 127);
    }
}

void ec_requantize_s16_s16(const ec_requantize_params_t *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)ec_clamp_i32(ec_requantize_one(p, input[i]), -32768, 32767);
    }
}
