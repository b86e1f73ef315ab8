/* edgeconv C runtime: CONV_2D for int8.
 *
 * Bit-exact with TFLite's reference ConvPerChannel. The input zero point is folded into the
 * bias at compile time (acc = bias' + sum(x * w)), which TFLite's (x - zp) * w form equals
 * exactly in int32 arithmetic; a tap that falls into the padding therefore reads the input
 * zero point, so that it adds nothing, as TFLite's skipped tap does.
 */
#include "ec_conv.h"
#include "ec_fixedpoint.h"

void ec_conv2d_s8(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t filters_per_group = p->out_c / groups;
    const int32_t taps = p->k_h * p->k_w * p->filter_in_c;
    int32_t b, oy, ox, oc, ky, kx, ic;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t group = oc / filters_per_group;
                    const int8_t *w = p->weights + oc * taps;
                    const int32_t ch = p->per_channel ? oc : 0;
                    int32_t acc = p->bias ? p->bias[oc] : 0;
                    int32_t pad_w_sum = 0; /* weights that met padding */
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dil_h;
                        const int row_inside = iy >= 0 && iy < p->in_h;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dil_w;
                            const int8_t *wk = w + (ky * p->k_w + kx) * p->filter_in_c;
                            if (row_inside && ix >= 0 && ix < p->in_w) {
                                const int8_t *x =
                                    in_b + (iy * p->in_w + ix) * p->in_c + group * p->filter_in_c;
                                for (ic = 0; ic < p->filter_in_c; ++ic) {
                                    acc += (int32_t)x[ic] * (int32_t)wk[ic];
                                }
                            } else {
                                for (ic = 0; ic < p->filter_in_c; ++ic) {
                                    pad_w_sum += wk[ic];
                                }
                            }
                        }
                    }
                    acc += pad_w_sum * p->input_zp;
                    acc = ec_requantize(acc, p->multiplier[ch], (int)p->shift[ch]);
                    acc += p->output_zp;
                    output[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] =
                        (int8_t)ec_clamp_i32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
