/* edgeconv C runtime: CONV_2D for int8.
 *
 * Bit-exact with TFLite's reference ConvPerChannel. The input zero point is folded into the
 * bias at compile time (acc = bias' + sum(x * w)), which TFLite's (x - zp) * w form equals
 * exactly in int32 arithmetic; a tap that falls into the padding therefore reads the input
 * zero point, so that it adds nothing, as TFLite's skipped tap does.
 *
 * Why no step leaves int32 (proved per model at compile time in edgeconv/ops/conv.py and
 * ranges.py, which refuse the layer otherwise):
 * - window arithmetic: oy * stride, iy0 = oy * stride - pad, (k - 1) * dil, ky * dil and
 *   iy0 + ky * dil are bounded by check_spatial_indices; a position times the row width or
 *   channel count is formed only inside the input, so it is below the tensor's element count
 *   (< 2^28, the reader's limit), as are weight and output offsets;
 * - the accumulator, the sum of the weights that met padding and its product with the input
 *   zero point: check_accumulator (|bias'| + 128 * sum|w| <= 2^31 - 1);
 * - ec_requantize's left shift and the addition of the output zero point: check_requantize;
 *   its right shift is at most 31 (quantize_multiplier gives shifts >= -31, shifts above 30
 *   are refused);
 * - the clamp bounds lie in [-128, 127], so the narrowing to int8_t is exact.
 */
#include "ec_conv.h"
#include "ec_dot.h"
#include "ec_fixedpoint.h"

/* One output pixel whose window lies wholly inside the input, without dilation along the
 * width and without groups: each kernel row is one contiguous run of k_w * in_c bytes in the
 * input and in the weights, so it is one dot product (the DSP path takes four at a time). */
static void conv_pixel_inside(const ec_conv2d_params_t *p, const int8_t *in_b, int32_t iy0, int32_t ix0,
                              int8_t *out) {
    const int32_t row = p->k_w * p->in_c;
    const int32_t taps = p->k_h * row;
    int32_t oc, ky;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int8_t *w = p->weights + oc * taps;
        const int32_t ch = p->per_channel ? oc : 0;
        int32_t acc = p->bias ? p->bias[oc] : 0;
        for (ky = 0; ky < p->k_h; ++ky) {
            acc = ec_dot_s8(in_b + ((iy0 + ky * p->dil_h) * p->in_w + ix0) * p->in_c, w + ky * row, row, acc);
        }
        acc = ec_requantize(acc, p->multiplier[ch], (int)p->shift[ch]);
        out[oc] = (int8_t)ec_clamp_i32(acc + p->output_zp, p->act_min, p->act_max);
    }
}

/* Any output pixel: taps outside the input read the input zero point (see above). */
static void conv_pixel_general(const ec_conv2d_params_t *p, const int8_t *in_b, int32_t iy0, int32_t ix0,
                               int8_t *out) {
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t filters_per_group = p->out_c / groups;
    const int32_t taps = p->k_h * p->k_w * p->filter_in_c;
    int32_t oc, ky, kx, ic;
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
                    const int8_t *x = in_b + (iy * p->in_w + ix) * p->in_c + group * p->filter_in_c;
                    acc = ec_dot_s8(x, wk, p->filter_in_c, acc);
                } else {
                    for (ic = 0; ic < p->filter_in_c; ++ic) {
                        pad_w_sum += wk[ic];
                    }
                }
            }
        }
        acc += pad_w_sum * p->input_zp;
        acc = ec_requantize(acc, p->multiplier[ch], (int)p->shift[ch]);
        out[oc] = (int8_t)ec_clamp_i32(acc + p->output_zp, p->act_min, p->act_max);
    }
}

void ec_conv2d_s8(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output) {
    const int contiguous_rows = p->dil_w == 1 && p->filter_in_c == p->in_c;
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
                if (contiguous_rows && rows_inside && ix0 >= 0 && ix0 + span_w < p->in_w) {
                    conv_pixel_inside(p, in_b, iy0, ix0, out);
                } else {
                    conv_pixel_general(p, in_b, iy0, ix0, out);
                }
            }
        }
    }
}
