/* edgeconv C runtime: DEPTHWISE_CONV_2D for int8.
 *
 * Bit-exact with TFLite's reference DepthwiseConvPerChannel: output channel
 * oc = ic * depth_multiplier + m reads input channel ic. The input zero point is folded into
 * the bias as in ec_conv.c, so padded taps read the zero point.
 */
#include "ec_depthwise_conv.h"
#include "ec_fixedpoint.h"

void ec_depthwise_conv2d_s8(const ec_depthwise_conv2d_params_t *p, const int8_t *input,
                            int8_t *output) {
    int32_t b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t ic = oc / p->depth_multiplier;
                    const int32_t ch = p->per_channel ? oc : 0;
                    int32_t acc = p->bias ? p->bias[oc] : 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dil_h;
                        const int row_inside = iy >= 0 && iy < p->in_h;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dil_w;
                            const int32_t w = p->weights[(ky * p->k_w + kx) * p->out_c + oc];
                            const int32_t x = (row_inside && ix >= 0 && ix < p->in_w)
                                                  ? in_b[(iy * p->in_w + ix) * p->in_c + ic]
                                                  : p->input_zp;
                            acc += x * w;
                        }
                    }
                    acc = ec_requantize(acc, p->multiplier[ch], (int)p->shift[ch]);
                    acc += p->output_zp;
                    out[oc] = (int8_t)ec_clamp_i32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
