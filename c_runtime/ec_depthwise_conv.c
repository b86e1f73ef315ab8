/* edgeconv C runtime: DEPTHWISE_CONV_2D for int8.
 *
 * Bit-exact with TFLite's reference DepthwiseConvPerChannel: output channel
 * oc = ic * depth_multiplier + m reads input channel ic. The input zero point is folded into
 * the bias as in ec_conv.c, so padded taps read the zero point. Every index, accumulator and
 * requantization step stays in int32 for the reasons given at the top of ec_conv.c (the
 * same compile-time checks run for this op); kx * dil_w * in_c is formed only for a window
 * inside the input, where it is below in_w * in_c.
 */
#include "ec_depthwise_conv.h"
#include "ec_dot.h"
#include "ec_fixedpoint.h"

static int8_t dw_output(const ec_depthwise_conv2d_params_t *p, int32_t oc, int32_t acc) {
    const int32_t ch = p->per_channel ? oc : 0;
    acc = ec_requantize(acc, p->multiplier[ch], (int)p->shift[ch]);
    return (int8_t)ec_clamp_i32(acc + p->output_zp, p->act_min, p->act_max);
}

/* An output pixel whose window lies inside the input: no bounds checks. With depth
 * multiplier 1 input and output channels coincide, so on the DSP path four channels share
 * one 32-bit load of inputs and of weights per tap. */
static void dw_pixel_inside(const ec_depthwise_conv2d_params_t *p, const int8_t *in_b, int32_t iy0, int32_t ix0,
                            int8_t *out) {
    int32_t oc = 0, ky, kx;
#ifdef EC_DOT_DSP
    if (p->depth_multiplier == 1) {
        for (; oc + 4 <= p->out_c; oc += 4) {
            int32_t acc[4];
            int k;
            for (k = 0; k < 4; ++k) {
                acc[k] = p->bias ? p->bias[oc + k] : 0;
            }
            for (ky = 0; ky < p->k_h; ++ky) {
                const int8_t *x_row = in_b + ((iy0 + ky * p->dil_h) * p->in_w + ix0) * p->in_c + oc;
                const int8_t *w_row = p->weights + ky * p->k_w * p->out_c + oc;
                for (kx = 0; kx < p->k_w; ++kx) {
                    ec_mac4_s8(x_row + kx * p->dil_w * p->in_c, w_row + kx * p->out_c, acc);
                }
            }
            for (k = 0; k < 4; ++k) {
                out[oc + k] = dw_output(p, oc + k, acc[k]);
            }
        }
    }
#endif
    for (; oc < p->out_c; ++oc) {
        const int32_t ic = oc / p->depth_multiplier;
        int32_t acc = p->bias ? p->bias[oc] : 0;
        for (ky = 0; ky < p->k_h; ++ky) {
            const int8_t *x_row = in_b + ((iy0 + ky * p->dil_h) * p->in_w + ix0) * p->in_c + ic;
            const int8_t *w_row = p->weights + ky * p->k_w * p->out_c + oc;
            for (kx = 0; kx < p->k_w; ++kx) {
                acc += (int32_t)x_row[kx * p->dil_w * p->in_c] * (int32_t)w_row[kx * p->out_c];
            }
        }
        out[oc] = dw_output(p, oc, acc);
    }
}

/* Any output pixel: taps outside the input read the input zero point. */
static void dw_pixel_general(const ec_depthwise_conv2d_params_t *p, const int8_t *in_b, int32_t iy0, int32_t ix0,
                             int8_t *out) {
    int32_t oc, ky, kx;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int32_t ic = oc / p->depth_multiplier;
        int32_t acc = p->bias ? p->bias[oc] : 0;
        for (ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dil_h;
            const int row_inside = iy >= 0 && iy < p->in_h;
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                const int32_t w = p->weights[(ky * p->k_w + kx) * p->out_c + oc];
                const int32_t x = (row_inside && ix >= 0 && ix < p->in_w) ? in_b[(iy * p->in_w + ix) * p->in_c + ic]
                                                                          : p->input_zp;
                acc += x * w;
            }
        }
        out[oc] = dw_output(p, oc, acc);
    }
}

void ec_depthwise_conv2d_s8(const ec_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t span_h = (p->k_h - 1) * p->dil_h;
    const int32_t span_w = (p->k_w - 1) * p->dil_w;
    int32_t b, oy, ox;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int rows_inside = iy0 >= 0 && iy0 + span_h < p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                if (rows_inside && ix0 >= 0 && ix0 + span_w < p->in_w) {
                    dw_pixel_inside(p, in_b, iy0, ix0, out);
                } else {
                    dw_pixel_general(p, in_b, iy0, ix0, out);
                }
            }
        }
    }
}
