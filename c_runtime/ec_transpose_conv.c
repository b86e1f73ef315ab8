/* edgeconv C runtime: TRANSPOSE_CONV in gather form (see ec_transpose_conv.h).
 *
 * Index arithmetic stays in int32: the compiler refuses strides and paddings above 32767
 * (TFLite keeps them in int16_t fields), so out + pad and k + stride cannot overflow, and
 * every offset is a position inside a tensor (at most 2^28 elements, the reader's limit). */
#include "ec_transpose_conv.h"

#include "ec_dot.h"
#include "ec_fixedpoint.h"

/* The first tap of an output coordinate: t = out + pad (>= 0) receives k = t mod stride,
 * t mod stride + stride, ..., from in = (t - k) / stride. t - k is a multiple of stride, so
 * the division is exact for negative values too; in decreases as k grows, so a negative in
 * ends the walk. */

/* sum over in_c of (x - zp) * w, written as x . w - zp * sum(w): the zp part is one table
 * entry per tap (p->zp_sums). With every partial sum proven inside int32 by the compiler
 * (|bias| + 256 * sum|w| over the taps of one output), the int32 result equals TFLite's. */
void ec_transpose_conv_s8(const ec_transpose_conv_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t in_c = p->in_c;
    int32_t b, oy, ox, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t ty = oy + p->pad_h;
            const int32_t ky0 = ty % p->stride_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t tx = ox + p->pad_w;
                const int32_t kx0 = tx % p->stride_w;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t ch = p->per_channel ? oc : 0;
                    int32_t acc = p->bias ? p->bias[oc] : 0;
                    int32_t ky, kx, out;
                    for (ky = ky0; ky < p->k_h; ky += p->stride_h) {
                        const int32_t iy = (ty - ky) / p->stride_h;
                        if (iy < 0) {
                            break;
                        }
                        if (iy >= p->in_h) {
                            continue;
                        }
                        for (kx = kx0; kx < p->k_w; kx += p->stride_w) {
                            const int32_t ix = (tx - kx) / p->stride_w;
                            const int32_t tap = (oc * p->k_h + ky) * p->k_w + kx;
                            if (ix < 0) {
                                break;
                            }
                            if (ix >= p->in_w) {
                                continue;
                            }
                            if (p->zp_sums) {
                                acc -= p->zp_sums[tap];
                            }
                            acc = ec_dot_s8(in_b + (iy * p->in_w + ix) * in_c, p->weights + tap * p->tap_stride,
                                            in_c, acc);
                        }
                    }
                    out = ec_requantize(acc, p->multiplier[ch], (int)p->shift[ch]) + p->output_zp;
                    *output++ = (int8_t)ec_clamp_i32(out, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* 16x8: TFLite accumulates in int64, adds the int64 bias and requantizes with its 64-bit
 * MultiplyByQuantizedMultiplier (ec_requantize_s64; the compiler proves |acc| < 2^47 and
 * shift <= 14); zero points are 0. Products are at most 2^22, summed in int64
 * (ec_dot_s16x8_64: SMLALD on the DSP path). */
void ec_transpose_conv_s16(const ec_transpose_conv_params_t *p, const int16_t *input, int16_t *output) {
    const int32_t in_c = p->in_c;
    int32_t b, oy, ox, oc;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *in_b = input + b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t ty = oy + p->pad_h;
            const int32_t ky0 = ty % p->stride_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t tx = ox + p->pad_w;
                const int32_t kx0 = tx % p->stride_w;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t ch = p->per_channel ? oc : 0;
                    int64_t acc = p->bias64 ? p->bias64[oc] : 0;
                    int32_t ky, kx, out;
                    for (ky = ky0; ky < p->k_h; ky += p->stride_h) {
                        const int32_t iy = (ty - ky) / p->stride_h;
                        if (iy < 0) {
                            break;
                        }
                        if (iy >= p->in_h) {
                            continue;
                        }
                        for (kx = kx0; kx < p->k_w; kx += p->stride_w) {
                            const int32_t ix = (tx - kx) / p->stride_w;
                            const int32_t tap = (oc * p->k_h + ky) * p->k_w + kx;
                            if (ix < 0) {
                                break;
                            }
                            if (ix >= p->in_w) {
                                continue;
                            }
                            acc = ec_dot_s16x8_64(in_b + (iy * p->in_w + ix) * in_c,
                                                  p->weights + tap * p->tap_stride, in_c, acc);
                        }
                    }
                    out = ec_requantize_s64(acc, p->multiplier[ch], (int)p->shift[ch]);
                    *output++ = (int16_t)ec_clamp_i32(out, p->act_min, p->act_max);
                }
            }
        }
    }
}
