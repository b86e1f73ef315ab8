/* edgeconv C runtime: PRELU for int8 and int16, bit-exact with TFLite's reference
 * BroadcastPrelu4DSlow (what TFLite Micro runs): x - zp >= 0 is rescaled by input/output
 * scale; otherwise the product (x - zp) * (alpha - alpha_zp), at most 255 * 255 (int8) or
 * 65535 * 255 (int16 input, int8 alpha) in magnitude, is rescaled by
 * input * alpha / output scale. Broadcasting walks the output in order with per-input strides
 * (0 along a broadcast dimension), as TFLite's BroadcastBinaryOpSimple does.
 * EC_MAX_DIMS is 6 (params dims[6]). */
#include "ec_prelu.h"
#include "ec_fixedpoint.h"

/* The unclamped output (the output zero point added wrapping, as TFLite's int32 + does). */
static int32_t ec_prelu_value(const ec_prelu_params_t *p, int32_t x_q, int32_t a_q) {
    const int32_t x = x_q - p->input_zp;
    int32_t y;
    if (x >= 0) {
        y = ec_requantize(x, p->identity_multiplier, (int)p->identity_shift);
    } else {
        y = ec_requantize(x * (a_q - p->alpha_zp), p->alpha_multiplier, (int)p->alpha_shift);
    }
    return ec_add_wrapping(y, p->output_zp);
}

/* Both entry points walk the output in runs of its last dimension (ec_broadcast_iter_t). */
/* ec_prelu_s16 below is its int16 twin (int16 clamp): kept apart so a firmware links only the
 * type it uses. */
void ec_prelu_s8(const ec_prelu_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t n = p->dims[EC_MAX_DIMS - 1];
    const int32_t sx = p->input_strides[EC_MAX_DIMS - 1];
    const int32_t sa = p->alpha_strides[EC_MAX_DIMS - 1];
    ec_broadcast_iter_t it;
    int32_t r, i, o = 0;
    ec_broadcast_begin(p->dims, &it);
    for (r = 0; r < it.runs; ++r) {
        for (i = 0; i < n; ++i) {
            const int32_t y = ec_prelu_value(p, input[it.off0 + i * sx], EC_WEIGHT_S8(p->alpha + it.off1 + i * sa));
            output[o++] = (int8_t)ec_clamp_i32(y, -128, 127);
        }
        ec_broadcast_next(p->dims, p->input_strides, p->alpha_strides, &it);
    }
}

/* The int16 twin of ec_prelu_s8 above: kept apart so a firmware links only the type it uses. */
void ec_prelu_s16(const ec_prelu_params_t *p, const int16_t *input, int16_t *output) {
    const int32_t n = p->dims[EC_MAX_DIMS - 1];
    const int32_t sx = p->input_strides[EC_MAX_DIMS - 1];
    const int32_t sa = p->alpha_strides[EC_MAX_DIMS - 1];
    ec_broadcast_iter_t it;
    int32_t r, i, o = 0;
    ec_broadcast_begin(p->dims, &it);
    for (r = 0; r < it.runs; ++r) {
        for (i = 0; i < n; ++i) {
            const int32_t y = ec_prelu_value(p, input[it.off0 + i * sx], EC_WEIGHT_S8(p->alpha + it.off1 + i * sa));
            output[o++] = (int16_t)ec_clamp_i32(y, -32768, 32767);
        }
        ec_broadcast_next(p->dims, p->input_strides, p->alpha_strides, &it);
    }
}
