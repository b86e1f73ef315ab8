/* edgeconv C runtime: PRELU for int8, bit-exact with TFLite's reference BroadcastPrelu4DSlow
 * (what TFLite Micro runs): x - zp >= 0 is rescaled by input/output scale; otherwise the
 * product (x - zp) * (alpha - alpha_zp), at most 255 * 255, is rescaled by
 * input * alpha / output scale. Broadcasting walks the output in order with per-input strides
 * (0 along a broadcast dimension), as TFLite's BroadcastBinaryOpSimple does. */
#include "ec_prelu.h"
#include "ec_fixedpoint.h"

static int8_t ec_prelu_one(const ec_prelu_params_t *p, int32_t x_q, int32_t a_q) {
    const int32_t x = x_q - p->input_zp;
    int32_t y;
    if (x >= 0) {
        y = ec_requantize(x, p->identity_multiplier, (int)p->identity_shift);
    } else {
        y = ec_requantize(x * (a_q - p->alpha_zp), p->alpha_multiplier, (int)p->alpha_shift);
    }
    return (int8_t)ec_clamp_i32(ec_add_wrapping(y, p->output_zp), -128, 127);
}

void ec_prelu_s8(const ec_prelu_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t *d = p->dims;
    const int32_t *si = p->input_strides;
    const int32_t *sa = p->alpha_strides;
    int32_t i0, i1, i2, i3, i4, i5;
    int32_t o = 0;
    for (i0 = 0; i0 < d[0]; ++i0) {
        for (i1 = 0; i1 < d[1]; ++i1) {
            for (i2 = 0; i2 < d[2]; ++i2) {
                for (i3 = 0; i3 < d[3]; ++i3) {
                    for (i4 = 0; i4 < d[4]; ++i4) {
                        const int32_t xi = i0 * si[0] + i1 * si[1] + i2 * si[2] + i3 * si[3] + i4 * si[4];
                        const int32_t ai = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3] + i4 * sa[4];
                        for (i5 = 0; i5 < d[5]; ++i5) {
                            output[o++] = ec_prelu_one(p, input[xi + i5 * si[5]], p->alpha[ai + i5 * sa[5]]);
                        }
                    }
                }
            }
        }
    }
}
