/* edgeconv C runtime: TRANSPOSE_CONV in gather form (see ec_transpose_conv.h).
 *
 * Index arithmetic stays in int32: the compiler refuses strides and paddings above 32767
 * (TFLite keeps them in int16_t fields), so out + pad and k + stride cannot overflow, and
 * every offset is a position inside a tensor (at most 2^28 elements, the reader's limit). */
#include <string.h>

#include "ec_transpose_conv.h"

#include "ec_dot.h"
#include "ec_fixedpoint.h"

/* The first tap of an output coordinate: t = out + pad (>= 0) receives k = t mod stride,
 * t mod stride + stride, ..., from in = (t - k) / stride. t - k is a multiple of stride, so
 * the division is exact for negative values too; in decreases as k grows, so a negative in
 * ends the walk. */

/* acc[r] += x . w_r for the four weight rows w_r = w + r * w_stride (four output channels of
 * one tap): each input load serves four channels. DSP path: SXTB16 splits four int8 into
 * two halfword pairs, SMLAD multiplies and adds a pair. */
static void ec_tconv_dot4_s8(const int8_t *x, EC_CREF(int8_t) w, int32_t w_stride, int32_t n, int32_t acc[4]) {
    EC_CREF(int8_t) const w0 = w;
    EC_CREF(int8_t) const w1 = EC_CADD(w, w_stride, int8_t);
    EC_CREF(int8_t) const w2 = EC_CADD(w, 2 * w_stride, int8_t);
    EC_CREF(int8_t) const w3 = EC_CADD(w, 3 * w_stride, int8_t);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t i = 0;
#ifdef EC_DOT_DSP
    for (; i + 4 <= n; i += 4) {
        uint32_t xv, xe, xo, wv;
        memcpy(&xv, x + i, 4); /* no alignment assumed */
        xe = ec_sxtb16(xv);
        xo = ec_sxtb16_ror8(xv);
        memcpy(&wv, w0 + i, 4);
        a0 = ec_smlad(xo, ec_sxtb16_ror8(wv), ec_smlad(xe, ec_sxtb16(wv), a0));
        memcpy(&wv, w1 + i, 4);
        a1 = ec_smlad(xo, ec_sxtb16_ror8(wv), ec_smlad(xe, ec_sxtb16(wv), a1));
        memcpy(&wv, w2 + i, 4);
        a2 = ec_smlad(xo, ec_sxtb16_ror8(wv), ec_smlad(xe, ec_sxtb16(wv), a2));
        memcpy(&wv, w3 + i, 4);
        a3 = ec_smlad(xo, ec_sxtb16_ror8(wv), ec_smlad(xe, ec_sxtb16(wv), a3));
    }
#endif
    for (; i < n; ++i) {
        const int32_t xi = x[i];
        a0 += xi * EC_WEIGHT_S8(w0 + i);
        a1 += xi * EC_WEIGHT_S8(w1 + i);
        a2 += xi * EC_WEIGHT_S8(w2 + i);
        a3 += xi * EC_WEIGHT_S8(w3 + i);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* sum over in_c of (x - zp) * w, written as x . w - zp * sum(w): the zp part is one table
 * entry per tap (p->zp_sums). With every partial sum proven inside int32 by the compiler
 * (|bias| + 256 * sum|w| over the taps of one output), the int32 result equals TFLite's.
 * Output channels go in blocks of four sharing the tap walk and the input loads, the last
 * out_c % 4 one at a time. */
/* ec_transpose_conv_s16 below is its 16x8 twin (int64 accumulator and bias): kept apart so the
 * int8 kernel keeps int32 sums and a firmware links only the type it uses. */
void ec_transpose_conv_s8(const ec_transpose_conv_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t in_c = p->in_c;
    const int32_t oc_stride = p->k_h * p->k_w * p->tap_stride; /* weights per output channel */
    const int32_t taps_per_oc = p->k_h * p->k_w;
    int32_t b, oy, ox, oc0;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t ty = oy + p->pad_h;
            const int32_t ky0 = ty % p->stride_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t tx = ox + p->pad_w;
                const int32_t kx0 = tx % p->stride_w;
                for (oc0 = 0; oc0 < p->out_c; oc0 += 4) {
                    const int32_t block = p->out_c - oc0 < 4 ? p->out_c - oc0 : 4;
                    int32_t acc[4];
                    int32_t r, ky, kx;
                    for (r = 0; r < block; ++r) {
                        acc[r] = p->bias ? EC_C_S32(p->bias, oc0 + r) : 0;
                    }
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
                            const int32_t tap = oc0 * taps_per_oc + ky * p->k_w + kx; /* of channel oc0 */
                            const int8_t *xp;
                            if (ix < 0) {
                                break;
                            }
                            if (ix >= p->in_w) {
                                continue;
                            }
                            xp = in_b + (iy * p->in_w + ix) * in_c;
                            if (p->zp_sums) {
                                for (r = 0; r < block; ++r) {
                                    acc[r] -= EC_C_S32(p->zp_sums, tap + r * taps_per_oc);
                                }
                            }
                            if (block == 4) {
                                ec_tconv_dot4_s8(xp, EC_CADD(p->weights, tap * p->tap_stride, int8_t), oc_stride, in_c,
                                                 acc);
                            } else {
                                for (r = 0; r < block; ++r) {
                                    acc[r] =
                                        ec_dot_s8_w(xp, p->weights + tap * p->tap_stride + r * oc_stride, in_c, acc[r]);
                                }
                            }
                        }
                    }
                    for (r = 0; r < block; ++r) {
                        const int32_t ch = p->per_channel ? oc0 + r : 0;
                        const int32_t out =
                            ec_requantize(acc[r], EC_C_S32(p->multiplier, ch), (int)EC_C_S32(p->shift, ch)) +
                            p->output_zp;
                        *output++ = (int8_t)ec_clamp_i32(out, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

/* acc[r] += x . w_r over one tap for four output channels (weight rows w + r * w_stride in
 * ec_dot.h's quad order), summed in int32: the compiler sets p->tap_sum32 only when
 * 2^15 * sum|w| of every tap's row fits int32, which bounds every partial sum. */
static void ec_tconv_dot4_s16x8(const int16_t *x, EC_CREF(int8_t) w, int32_t w_stride, int32_t n, int32_t acc[4]) {
    EC_CREF(int8_t) const w0 = w;
    EC_CREF(int8_t) const w1 = EC_CADD(w, w_stride, int8_t);
    EC_CREF(int8_t) const w2 = EC_CADD(w, 2 * w_stride, int8_t);
    EC_CREF(int8_t) const w3 = EC_CADD(w, 3 * w_stride, int8_t);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t i = 0, j;
#ifdef EC_DOT_DSP
    for (; i + 4 <= n; i += 4) {
        uint32_t x01, x23, wv;
        memcpy(&x01, x + i, 4); /* (x0, x1) as halfwords, as they lie in memory */
        memcpy(&x23, x + i + 2, 4);
        memcpy(&wv, w0 + i, 4); /* quad (w0, w2, w1, w3): SXTB16 gives (w0, w1), ror 8 (w2, w3) */
        a0 = ec_smlad(x23, ec_sxtb16_ror8(wv), ec_smlad(x01, ec_sxtb16(wv), a0));
        memcpy(&wv, w1 + i, 4);
        a1 = ec_smlad(x23, ec_sxtb16_ror8(wv), ec_smlad(x01, ec_sxtb16(wv), a1));
        memcpy(&wv, w2 + i, 4);
        a2 = ec_smlad(x23, ec_sxtb16_ror8(wv), ec_smlad(x01, ec_sxtb16(wv), a2));
        memcpy(&wv, w3 + i, 4);
        a3 = ec_smlad(x23, ec_sxtb16_ror8(wv), ec_smlad(x01, ec_sxtb16(wv), a3));
    }
#endif
    for (j = 0; i < n; ++i, j = (j + 1) & 3) {
        const int32_t xi = x[i];
        const int32_t k = i - j + EC_S16_SLOT(j); /* element i's place in its quad */
        a0 += xi * EC_WEIGHT_S8(w0 + k);
        a1 += xi * EC_WEIGHT_S8(w1 + k);
        a2 += xi * EC_WEIGHT_S8(w2 + k);
        a3 += xi * EC_WEIGHT_S8(w3 + k);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* 16x8: TFLite accumulates in int64, adds the int64 bias and requantizes with its 64-bit
 * MultiplyByQuantizedMultiplier (ec_requantize_s64; the compiler proves |acc| < 2^47 and
 * shift <= 14); zero points are 0. Products are at most 2^22. Output channels in blocks of
 * four: each tap's four dot products in int32 (ec_tconv_dot4_s16x8, when p->tap_sum32),
 * widened into the int64 sums; otherwise, and for the last out_c % 4 channels, in int64
 * (ec_dot_s16x8_64: SMLALD on the DSP path). */
/* The 16x8 twin of ec_transpose_conv_s8 above (int64 accumulator and bias): kept apart so the
 * int8 kernel keeps int32 sums and a firmware links only the type it uses. */
void ec_transpose_conv_s16(const ec_transpose_conv_params_t *p, const int16_t *input, int16_t *output) {
    const int32_t in_c = p->in_c;
    const int32_t oc_stride = p->k_h * p->k_w * p->tap_stride;
    const int32_t taps_per_oc = p->k_h * p->k_w;
    int32_t b, oy, ox, oc0;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *in_b = input + b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t ty = oy + p->pad_h;
            const int32_t ky0 = ty % p->stride_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t tx = ox + p->pad_w;
                const int32_t kx0 = tx % p->stride_w;
                for (oc0 = 0; oc0 < p->out_c; oc0 += 4) {
                    const int32_t block = p->out_c - oc0 < 4 ? p->out_c - oc0 : 4;
                    int64_t acc[4];
                    int32_t r, ky, kx;
                    for (r = 0; r < block; ++r) {
                        acc[r] = p->bias64 ? EC_C_S64(p->bias64, oc0 + r) : 0;
                    }
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
                            EC_CREF(int8_t) const wp =
                                EC_CADD(p->weights, (oc0 * taps_per_oc + ky * p->k_w + kx) * p->tap_stride, int8_t);
                            const int16_t *xp;
                            if (ix < 0) {
                                break;
                            }
                            if (ix >= p->in_w) {
                                continue;
                            }
                            xp = in_b + (iy * p->in_w + ix) * in_c;
                            if (block == 4 && p->tap_sum32) {
                                int32_t sums[4] = {0, 0, 0, 0};
                                ec_tconv_dot4_s16x8(xp, wp, oc_stride, in_c, sums);
                                for (r = 0; r < 4; ++r) {
                                    acc[r] += sums[r];
                                }
                            } else {
                                for (r = 0; r < block; ++r) {
                                    acc[r] = ec_dot_s16x8_64(xp, EC_CADD(wp, r * oc_stride, int8_t), in_c, acc[r]);
                                }
                            }
                        }
                    }
                    for (r = 0; r < block; ++r) {
                        const int32_t ch = p->per_channel ? oc0 + r : 0;
                        const int32_t out =
                            ec_requantize_s64(acc[r], EC_C_S32(p->multiplier, ch), (int)EC_C_S32(p->shift, ch));
                        *output++ = (int16_t)ec_clamp_i32(out, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
