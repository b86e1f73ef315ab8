/* edgeconv C runtime: DEPTHWISE_CONV_2D for int8.
 *
 * Bit-exact with TFLite's reference DepthwiseConvPerChannel: output channel
 * oc = ic * depth_multiplier + m reads input channel ic. The input zero point is folded into
 * the bias as in ec_conv.c, so a padded tap must read the zero point (it contributes
 * zp * w, which the folded bias cancels).
 *
 * Padding without bounds checks: an output row whose windows reach outside the input is
 * computed from a copy of its k_h input rows in the scratch buffer, each row widened to the
 * span_w columns the row's windows cover, with the zero point written wherever the input has
 * no pixel. Every window then lies inside one uniform block (row step rs bytes, column step
 * cs bytes), so border pixels run the same code as interior ones; rows that need no padding
 * read the input in place. The copy costs k_h * span_w * in_c bytes per padded output row,
 * small beside the row's k_h * k_w * out_w * out_c multiply-accumulates.
 *
 * Every index, accumulator and requantization step stays in int32 for the reasons given at
 * the top of ec_conv.c (the same compile-time checks run for this op): offsets are formed
 * only inside the input or the scratch block. The DSP path adds the same products as the
 * portable path in another order; both stay within the compile-time bound |bias'| + 128 *
 * sum|w| at every partial sum, so neither can overflow and both give the same int32.
 */
#include <string.h>

#include "ec_depthwise_conv.h"
#include "ec_dot.h"
#include "ec_fixedpoint.h"

/* The row loops below are written once and specialised for the common kernel shapes by
 * inlining them with constant arguments; the attribute makes sure they are inlined. */
#if defined(__GNUC__) && !defined(__clang__)
#define DW_INLINE static inline __attribute__((always_inline))
/* Without gcc's pre-allocation scheduling, which hoists the next taps' loads and so needs more
 * registers than there are, the accumulators stay in registers (as in ec_conv.c). */
#define DW_NOINLINE static __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__clang__)
#define DW_INLINE static inline __attribute__((always_inline))
#define DW_NOINLINE static __attribute__((noinline))
#else
#define DW_INLINE static inline
#define DW_NOINLINE static
#endif
/* Keeps gcc from turning the word loops of dw_fill and dw_copy back into library calls. */
#if defined(__GNUC__) && !defined(__clang__)
#define DW_NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define DW_NO_LIBCALL
#endif

DW_INLINE int8_t dw_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_zp, int32_t act_min,
                               int32_t act_max) {
    return (int8_t)ec_clamp_i32(ec_requantize(acc, multiplier, (int)shift) + output_zp, act_min, act_max);
}

/* The weight of output channel oc at tap t, in the layout described in ec_depthwise_conv.h. */
static int32_t dw_weight(const ec_depthwise_conv2d_params_t *p, int32_t oc, int32_t t) {
    const int32_t taps = p->k_h * p->k_w;
    int32_t idx;
    if (p->depth_multiplier != 1) {
        idx = t * p->out_c + oc;
    } else {
        const int32_t blocked = p->out_c - p->out_c % 4;
        if (oc < blocked) {
            int32_t lane = oc % 4;
            if (p->weights16 != 0) {
                lane = ((lane & 1) << 1) | (lane >> 1); /* c0, c2, c1, c3 */
            } else {
                lane ^= 1; /* c1, c0, c3, c2 */
            }
            idx = (oc - oc % 4) * taps + t * 4 + lane;
        } else {
            idx = blocked * taps + t * (p->out_c - blocked) + (oc - blocked);
        }
    }
    return p->weights16 != 0 ? (int32_t)EC_C_S16(p->weights16, idx) : (int32_t)EC_WEIGHT_S8(p->weights + idx);
}

/* The last channels % 4 channels of one pixel, weights laid out [T][rem] from wi (out of line:
 * most layers have none, and one copy serves every variant). */
DW_NOINLINE void dw_tail(const ec_depthwise_conv2d_params_t *p, const int8_t *win, int32_t rs, int32_t cs, int32_t c,
                         int32_t wi, int32_t k_h, int32_t k_w, int wide, int8_t *out) {
    const int32_t rem = p->out_c - c;
    int32_t k, ky, kx;
    for (k = 0; k < rem; ++k) {
        int32_t acc = EC_C_S32(p->bias, c + k);
        int32_t t = 0;
        for (ky = 0; ky < k_h; ++ky) {
            for (kx = 0; kx < k_w; ++kx) {
                const int32_t w =
                    wide ? (int32_t)EC_C_S16(EC_CADD(EC_CADD(p->weights16, wi, int16_t), t * rem, int16_t), k)
                         : (int32_t)EC_WEIGHT_S8(p->weights + wi + t * rem + k);
                acc += (int32_t)win[ky * rs + kx * cs + c + k] * w;
                ++t;
            }
        }
        out[c + k] = dw_requantize(acc, EC_C_S32(p->requant, 2 * (c + k)), EC_C_S32(p->requant, 2 * (c + k) + 1),
                                   p->output_zp, p->act_min, p->act_max);
    }
}

/* Depth multiplier 1 on the portable path: the blocked weight layout read in order, four
 * channels' scalar accumulators per block (wide is a constant where this is inlined). */
DW_INLINE void dw_row_portable_dm1(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                   int32_t step, int32_t n, int8_t *out, int wide) {
    const int32_t channels = p->out_c;
    const int32_t blocked = channels - channels % 4;
    EC_CREF(int8_t) const w8 = p->weights;
    EC_CREF(int16_t) const w16 = p->weights16;
    EC_CREF(int32_t) const rq = p->requant;
    int32_t ox;
    for (ox = 0; ox < n; ++ox) {
        const int8_t *win = win0 + ox * step;
        int32_t wi = 0, c, ky, kx, k;
        for (c = 0; c < blocked; c += 4) {
            int32_t acc[4];
            for (k = 0; k < 4; ++k) {
                acc[k] = EC_C_S32(p->bias, c + k);
            }
            for (ky = 0; ky < p->k_h; ++ky) {
                for (kx = 0; kx < p->k_w; ++kx) {
                    const int8_t *x = win + ky * rs + kx * cs + c;
                    if (wide) { /* c0, c2, c1, c3 */
                        acc[0] += (int32_t)x[0] * (int32_t)EC_C_S16(w16, wi);
                        acc[2] += (int32_t)x[2] * (int32_t)EC_C_S16(EC_CADD(w16, wi, int16_t), 1);
                        acc[1] += (int32_t)x[1] * (int32_t)EC_C_S16(EC_CADD(w16, wi, int16_t), 2);
                        acc[3] += (int32_t)x[3] * (int32_t)EC_C_S16(EC_CADD(w16, wi, int16_t), 3);
                    } else { /* c1, c0, c3, c2 */
                        acc[1] += (int32_t)x[1] * (int32_t)EC_WEIGHT_S8(w8 + wi);
                        acc[0] += (int32_t)x[0] * (int32_t)EC_WEIGHT_S8(w8 + wi + 1);
                        acc[3] += (int32_t)x[3] * (int32_t)EC_WEIGHT_S8(w8 + wi + 2);
                        acc[2] += (int32_t)x[2] * (int32_t)EC_WEIGHT_S8(w8 + wi + 3);
                    }
                    wi += 4;
                }
            }
            for (k = 0; k < 4; ++k) {
                out[c + k] = dw_requantize(acc[k], EC_C_S32(rq, 2 * (c + k)), EC_C_S32(rq, 2 * (c + k) + 1),
                                           p->output_zp, p->act_min, p->act_max);
            }
        }
        if (c < channels) {
            dw_tail(p, win, rs, cs, c, wi, p->k_h, p->k_w, wide, out);
        }
        out += channels;
    }
}

/* One output row, any depth multiplier, one channel at a time (the portable path).
 * win0: the first window's top-left pixel; a window is k_h rows rs bytes apart, k_w columns
 * cs bytes apart; consecutive windows are step bytes apart. */
DW_NOINLINE void dw_row_portable(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                 int32_t step, int32_t n, int8_t *out) {
    const int32_t pcm = p->per_channel ? -1 : 0;
    int32_t ox, oc, ky, kx;
#ifndef EC_DOT_DSP
    /* (With the DSP path, depth multiplier 1 takes the DSP rows: this serves only layers
     * outside an entry point's family, which the compiler never passes, and needs no speed.) */
    if (p->depth_multiplier == 1 && p->per_channel) {
        if (p->weights16 != 0) {
            dw_row_portable_dm1(p, win0, rs, cs, step, n, out, 1);
        } else {
            dw_row_portable_dm1(p, win0, rs, cs, step, n, out, 0);
        }
        return;
    }
#endif
    for (ox = 0; ox < n; ++ox) {
        const int8_t *win = win0 + ox * step;
        for (oc = 0; oc < p->out_c; ++oc) {
            const int32_t ic = oc / p->depth_multiplier;
            int32_t acc = EC_C_S32(p->bias, oc);
            int32_t t = 0;
            for (ky = 0; ky < p->k_h; ++ky) {
                for (kx = 0; kx < p->k_w; ++kx) {
                    acc += (int32_t)win[ky * rs + kx * cs + ic] * dw_weight(p, oc, t);
                    ++t;
                }
            }
            out[oc] = dw_requantize(acc, EC_C_S32(p->requant, 2 * (oc & pcm)), EC_C_S32(p->requant, 2 * (oc & pcm) + 1),
                                    p->output_zp, p->act_min, p->act_max);
        }
        out += p->out_c;
    }
}

#ifdef EC_DOT_DSP
/* The ACLE intrinsics are builtins the compiler schedules and allocates registers around
 * (one-instruction asm statements, as in ec_dot.h, made gcc hoist every load of the nine taps
 * to the top and spill them), even at the price of a separate ROR: gcc does not fold the rotate
 * into SXTB16's ROR #8 operand, and mixing in one asm statement for it brought the spills back. */
#if defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define DW_SXTB16(x) ((uint32_t)__sxtb16((int32_t)(x)))
#define DW_SXTB16_ROR8(x) ((uint32_t)__sxtb16((int32_t)(((x) >> 8) | ((x) << 24))))
#define DW_SMLABB(a, b, acc) __smlabb((int32_t)(a), (int32_t)(b), (acc))
#define DW_SMLATT(a, b, acc) __smlatt((int32_t)(a), (int32_t)(b), (acc))
#define DW_SSAT8(x) __ssat((x), 8)
#else
#define DW_SSAT8(x) ec_clamp_i32((x), -128, 127)
#define DW_SXTB16(x) ec_sxtb16(x)
#define DW_SXTB16_ROR8(x) ec_sxtb16_ror8(x)
#define DW_SMLABB(a, b, acc) ec_smlabb((a), (b), (acc))
#define DW_SMLATT(a, b, acc) ec_smlatt((a), (b), (acc))
#endif

/* The DSP path takes layers of at most this many taps. The channels of a block of four are
 * accumulated scaled by 256 (see dw_tap): |sum| <= 256 * 128 * 128 * taps must stay below
 * 2^31. */
#define DW_DSP_MAX_TAPS 511

/* Four channels' products at one tap. x holds four int8 inputs (c0..c3): SXTB16 gives
 * (x0, x2) as halfwords; x & 0xFF00FF00 gives (256 * x1, 256 * x3) in one instruction instead
 * of a rotate and a second SXTB16. The int16 weights (wide) are (w0, w2), (w1, w3), so
 * channels 1 and 3 accumulate 256 times their sum. The int8 weights are stored w1, w0, w3, w2:
 * SXTB16 gives (w1, w3) and the mask (256 * w0, 256 * w2), so all four channels accumulate 256
 * times their sum. Every term is a multiple of 256, so the sums divide back exactly. */
DW_INLINE void dw_tap(const int8_t *x, const int8_t *w8, const int16_t *w16, int wide, int32_t wi, int32_t acc[4]) {
    uint32_t xv, xe, xo, we, wo;
    memcpy(&xv, x, 4);
    if (wide) {
        memcpy(&we, w16 + wi, 4);
        memcpy(&wo, w16 + wi + 2, 4);
    } else {
        uint32_t wv;
        memcpy(&wv, w8 + wi, 4);
        wo = DW_SXTB16(wv);
        we = wv & 0xFF00FF00u;
    }
    xe = DW_SXTB16(xv);
    xo = xv & 0xFF00FF00u;
    acc[0] = DW_SMLABB(xe, we, acc[0]);
    acc[2] = DW_SMLATT(xe, we, acc[2]);
    acc[1] = DW_SMLABB(xo, wo, acc[1]);
    acc[3] = DW_SMLATT(xo, wo, acc[3]);
}

/* The parts of a tap, for the two-pixel loop: extend four inputs, extend four weights, and
 * add the four products (as in dw_tap). */
DW_INLINE void dw_xext(const int8_t *x, uint32_t *xe, uint32_t *xo) {
    uint32_t xv;
    memcpy(&xv, x, 4);
    *xe = DW_SXTB16(xv);
    *xo = xv & 0xFF00FF00u;
}

DW_INLINE void dw_wext(const int8_t *w8, const int16_t *w16, int wide, int32_t wi, uint32_t *we, uint32_t *wo) {
    if (wide) {
        memcpy(we, w16 + wi, 4);
        memcpy(wo, w16 + wi + 2, 4);
    } else {
        uint32_t wv;
        memcpy(&wv, w8 + wi, 4);
        *wo = DW_SXTB16(wv);
        *we = wv & 0xFF00FF00u;
    }
}

DW_INLINE void dw_mac(uint32_t xe, uint32_t xo, uint32_t we, uint32_t wo, int32_t acc[4]) {
    acc[0] = DW_SMLABB(xe, we, acc[0]);
    acc[2] = DW_SMLATT(xe, we, acc[2]);
    acc[1] = DW_SMLABB(xo, wo, acc[1]);
    acc[3] = DW_SMLATT(xo, wo, acc[3]);
}

/* The accumulators' start: the bias where a channel is not accumulated scaled (see dw_tap). */
DW_INLINE void dw_start4(const int32_t *bias, int wide, int32_t acc[4]) {
    acc[0] = wide ? bias[0] : 0;
    acc[1] = 0;
    acc[2] = wide ? bias[2] : 0;
    acc[3] = 0;
}

/* Four outputs from their accumulators: unscale, add the bias, requantize, clamp, store. */
DW_INLINE void dw_finish4(int32_t acc[4], const int32_t *bias, const int32_t *rq, int wide, int32_t out_zp,
                          int32_t act_min, int32_t act_max, int full_range, int8_t *out) {
    /* The scaled sums are exact multiples of 256: >> 8 divides exactly. */
    if (!wide) {
        acc[0] = bias[0] + (acc[0] >> 8);
        acc[2] = bias[2] + (acc[2] >> 8);
    }
    acc[1] = bias[1] + (acc[1] >> 8);
    acc[3] = bias[3] + (acc[3] >> 8);
    acc[0] = ec_requantize(acc[0], rq[0], (int)rq[1]) + out_zp;
    acc[1] = ec_requantize(acc[1], rq[2], (int)rq[3]) + out_zp;
    acc[2] = ec_requantize(acc[2], rq[4], (int)rq[5]) + out_zp;
    acc[3] = ec_requantize(acc[3], rq[6], (int)rq[7]) + out_zp;
    if (full_range) {
        /* The activation clamps to int8 only: one SSAT each. */
        out[0] = (int8_t)DW_SSAT8(acc[0]);
        out[1] = (int8_t)DW_SSAT8(acc[1]);
        out[2] = (int8_t)DW_SSAT8(acc[2]);
        out[3] = (int8_t)DW_SSAT8(acc[3]);
    } else {
        /* Written out: an indexed loop would keep acc[] in memory. */
        out[0] = (int8_t)ec_clamp_i32(acc[0], act_min, act_max);
        out[1] = (int8_t)ec_clamp_i32(acc[1], act_min, act_max);
        out[2] = (int8_t)ec_clamp_i32(acc[2], act_min, act_max);
        out[3] = (int8_t)ec_clamp_i32(acc[3], act_min, act_max);
    }
}

/* One output row, depth multiplier 1, four channels per SIMD step: one 32-bit load brings
 * four int8 inputs and SMLABB/SMLATT add each channel's product to its own accumulator. The
 * weights were arranged at compile time in the order this loop reads them. k_h, k_w and wide
 * are constants where this is inlined, so the tap loops unroll. Needs per-channel multiplier
 * and shift pairs (the compiler always emits them so) and at most DW_DSP_MAX_TAPS taps. */
DW_INLINE void dw_row_dsp(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                          int32_t step, int32_t n, int8_t *out, int32_t k_h, int32_t k_w, int wide) {
    const int32_t channels = p->out_c;
    const int32_t blocked = channels - channels % 4;
    const int32_t *bias = p->bias;
    const int32_t *rq = p->requant;
    const int8_t *w8 = p->weights;
    const int16_t *w16 = p->weights16;
    const int32_t out_zp = p->output_zp, act_min = p->act_min, act_max = p->act_max;
    const int full_range = act_min == -128 && act_max == 127;
    int32_t ox;
    for (ox = 0; ox < n; ++ox) {
        const int8_t *win = win0 + ox * step;
        int32_t wi = 0; /* the block's first weight (in elements, either form) */
        int32_t c, ky, kx;
        for (c = 0; c < blocked; c += 4) {
            int32_t acc[4];
            dw_start4(bias + c, wide, acc);
            if (k_h == 3 && k_w == 3) {
                /* Written out: -O2 does not unroll the nine taps by itself. */
                const int8_t *r0 = win + c;
                const int8_t *r1 = r0 + rs;
                const int8_t *r2 = r1 + rs;
                dw_tap(r0, w8, w16, wide, wi, acc);
                dw_tap(r0 + cs, w8, w16, wide, wi + 4, acc);
                dw_tap(r0 + 2 * cs, w8, w16, wide, wi + 8, acc);
                dw_tap(r1, w8, w16, wide, wi + 12, acc);
                dw_tap(r1 + cs, w8, w16, wide, wi + 16, acc);
                dw_tap(r1 + 2 * cs, w8, w16, wide, wi + 20, acc);
                dw_tap(r2, w8, w16, wide, wi + 24, acc);
                dw_tap(r2 + cs, w8, w16, wide, wi + 28, acc);
                dw_tap(r2 + 2 * cs, w8, w16, wide, wi + 32, acc);
                wi += 36;
            } else if (k_w == 1) {
                /* One column of taps, two per iteration. */
                const int8_t *x = win + c;
                for (ky = 0; ky + 2 <= k_h; ky += 2) {
                    dw_tap(x, w8, w16, wide, wi, acc);
                    dw_tap(x + rs, w8, w16, wide, wi + 4, acc);
                    wi += 8;
                    if (ky + 2 < k_h) {
                        x += 2 * rs; /* only while a tap remains: stays inside the window */
                    }
                }
                if (ky < k_h) {
                    dw_tap(x, w8, w16, wide, wi, acc);
                    wi += 4;
                }
            } else {
                for (ky = 0; ky < k_h; ++ky) {
                    const int8_t *row = win + ky * rs + c;
                    for (kx = 0; kx < k_w; ++kx) {
                        dw_tap(row + kx * cs, w8, w16, wide, wi, acc);
                        wi += 4;
                    }
                }
            }
            dw_finish4(acc, bias + c, rq + 2 * c, wide, out_zp, act_min, act_max, full_range, out + c);
        }
        out += channels;
    }
    /* The tail channels in a pass of their own: a call inside the loop above would make gcc keep
     * the loop's variables in the few registers a call preserves. */
    if (blocked < channels) {
        for (ox = 0; ox < n; ++ox) {
            dw_tail(p, win0 + ox * step, rs, cs, blocked, blocked * k_h * k_w, k_h, k_w, wide,
                    out - (n - ox) * channels);
        }
    }
}

DW_NOINLINE void dw_row_dsp_3x3_w16(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                    int32_t step, int32_t n, int8_t *out);
DW_NOINLINE void dw_row_dsp_3x3_w8(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                   int32_t step, int32_t n, int8_t *out);

/* One row of 3x3 windows one column apart (stride_w == dil_w), two pixels at a time: pixel
 * B's tap (ky, kx) is pixel A's tap (ky, kx + 1), so each row of the pair's windows loads and
 * extends four input words instead of six, and each weight word serves both pixels. */
DW_INLINE void dw_pair_row(const int8_t *r, int32_t cs, const int8_t *w8, const int16_t *w16, int wide, int32_t wi,
                           int32_t a[4], int32_t b[4]) {
    /* Ordered so that at most two extended input and two extended weight words are live. */
    uint32_t xe, xo, we, wo;
    dw_wext(w8, w16, wide, wi, &we, &wo);
    dw_xext(r, &xe, &xo);
    dw_mac(xe, xo, we, wo, a);
    dw_xext(r + cs, &xe, &xo);
    dw_mac(xe, xo, we, wo, b);
    dw_wext(w8, w16, wide, wi + 4, &we, &wo);
    dw_mac(xe, xo, we, wo, a);
    dw_xext(r + 2 * cs, &xe, &xo);
    dw_mac(xe, xo, we, wo, b);
    dw_wext(w8, w16, wide, wi + 8, &we, &wo);
    dw_mac(xe, xo, we, wo, a);
    dw_xext(r + 3 * cs, &xe, &xo);
    dw_mac(xe, xo, we, wo, b);
}

DW_INLINE void dw_row_dsp_3x3_pairs(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                    int32_t n, int8_t *out, int wide) {
    const int32_t channels = p->out_c;
    const int32_t blocked = channels - channels % 4;
    const int32_t *bias = p->bias;
    const int32_t *rq = p->requant;
    const int8_t *w8 = p->weights;
    const int16_t *w16 = p->weights16;
    const int32_t out_zp = p->output_zp, act_min = p->act_min, act_max = p->act_max;
    const int full_range = act_min == -128 && act_max == 127;
    int32_t ox;
    for (ox = 0; ox + 2 <= n; ox += 2) {
        const int8_t *win = win0 + ox * cs;
        int32_t wi = 0;
        int32_t c;
        for (c = 0; c < blocked; c += 4) {
            int32_t a[4], b[4];
            dw_start4(bias + c, wide, a);
            dw_start4(bias + c, wide, b);
            dw_pair_row(win + c, cs, w8, w16, wide, wi, a, b);
            dw_pair_row(win + c + rs, cs, w8, w16, wide, wi + 12, a, b);
            dw_pair_row(win + c + 2 * rs, cs, w8, w16, wide, wi + 24, a, b);
            wi += 36;
            dw_finish4(a, bias + c, rq + 2 * c, wide, out_zp, act_min, act_max, full_range, out + c);
            dw_finish4(b, bias + c, rq + 2 * c, wide, out_zp, act_min, act_max, full_range, out + channels + c);
        }
        out += 2 * channels;
    }
    if (blocked < channels) {
        int32_t k;
        for (k = 0; k < ox; ++k) {
            dw_tail(p, win0 + k * cs, rs, cs, blocked, blocked * 9, 3, 3, wide, out - (ox - k) * channels);
        }
    }
}

DW_NOINLINE void dw_row_dsp_3x3_w8(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                   int32_t step, int32_t n, int8_t *out) {
    dw_row_dsp(p, win0, rs, cs, step, n, out, 3, 3, 0);
}

DW_NOINLINE void dw_row_dsp_3x3_w16(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                    int32_t step, int32_t n, int8_t *out) {
    dw_row_dsp(p, win0, rs, cs, step, n, out, 3, 3, 1);
}

DW_NOINLINE void dw_row_dsp_3x3p_w16(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                     int32_t n, int8_t *out) {
    dw_row_dsp_3x3_pairs(p, win0, rs, cs, n, out, 1);
}

DW_NOINLINE void dw_row_dsp_3x3p_w8(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                    int32_t n, int8_t *out) {
    dw_row_dsp_3x3_pairs(p, win0, rs, cs, n, out, 0);
}

DW_NOINLINE void dw_row_dsp_kx1_w8(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                   int32_t step, int32_t n, int8_t *out) {
    dw_row_dsp(p, win0, rs, cs, step, n, out, p->k_h, 1, 0);
}

DW_NOINLINE void dw_row_dsp_kx1_w16(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                    int32_t step, int32_t n, int8_t *out) {
    dw_row_dsp(p, win0, rs, cs, step, n, out, p->k_h, 1, 1);
}

/* A column of k_h taps (k_w == 1) for pixels one tap row apart (step == rs: str_ww's runs of
 * one-pixel rows with stride_h == dil_h), two pixels at a time: pixel B's tap ky is pixel A's
 * tap ky + 1, so the pair loads k_h + 1 input words instead of 2 * k_h, and each weight word
 * serves both pixels. */
DW_INLINE void dw_row_dsp_kx1_pairs(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t n,
                                    int8_t *out, int wide) {
    const int32_t channels = p->out_c;
    const int32_t blocked = channels - channels % 4;
    const int32_t k_h = p->k_h;
    const int32_t *bias = p->bias;
    const int32_t *rq = p->requant;
    const int8_t *w8 = p->weights;
    const int16_t *w16 = p->weights16;
    const int32_t out_zp = p->output_zp, act_min = p->act_min, act_max = p->act_max;
    const int full_range = act_min == -128 && act_max == 127;
    int32_t ox;
    for (ox = 0; ox + 2 <= n; ox += 2) {
        const int8_t *win = win0 + ox * rs;
        int32_t wi = 0;
        int32_t c, ky;
        for (c = 0; c < blocked; c += 4) {
            const int8_t *x = win + c;
            int32_t a[4], b[4];
            uint32_t xe, xo, we, wo;
            dw_start4(bias + c, wide, a);
            dw_start4(bias + c, wide, b);
            /* Ordered so that at most two extended input and two extended weight words are live. */
            dw_wext(w8, w16, wide, wi, &we, &wo);
            dw_xext(x, &xe, &xo);
            dw_mac(xe, xo, we, wo, a);
            for (ky = 1; ky < k_h; ++ky) {
                dw_xext(x + ky * rs, &xe, &xo);
                dw_mac(xe, xo, we, wo, b);
                dw_wext(w8, w16, wide, wi + 4 * ky, &we, &wo);
                dw_mac(xe, xo, we, wo, a);
            }
            dw_xext(x + k_h * rs, &xe, &xo); /* pixel B's last tap */
            dw_mac(xe, xo, we, wo, b);
            wi += 4 * k_h;
            dw_finish4(a, bias + c, rq + 2 * c, wide, out_zp, act_min, act_max, full_range, out + c);
            dw_finish4(b, bias + c, rq + 2 * c, wide, out_zp, act_min, act_max, full_range, out + channels + c);
        }
        out += 2 * channels;
    }
    if (blocked < channels) {
        int32_t k;
        for (k = 0; k < ox; ++k) {
            dw_tail(p, win0 + k * rs, rs, rs, blocked, blocked * k_h, k_h, 1, wide, out - (ox - k) * channels);
        }
    }
}

DW_NOINLINE void dw_row_dsp_kx1p_w8(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t n,
                                    int8_t *out) {
    dw_row_dsp_kx1_pairs(p, win0, rs, n, out, 0);
}

DW_NOINLINE void dw_row_dsp_kx1p_w16(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t n,
                                     int8_t *out) {
    dw_row_dsp_kx1_pairs(p, win0, rs, n, out, 1);
}

DW_NOINLINE void dw_row_dsp_any_w8(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                   int32_t step, int32_t n, int8_t *out) {
    dw_row_dsp(p, win0, rs, cs, step, n, out, p->k_h, p->k_w, 0);
}

DW_NOINLINE void dw_row_dsp_any_w16(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs,
                                    int32_t step, int32_t n, int8_t *out) {
    dw_row_dsp(p, win0, rs, cs, step, n, out, p->k_h, p->k_w, 1);
}
#endif

/* n bytes of value / of src at dst, four words at a time (newlib's memset and memcpy for small
 * sizes run a byte loop: measured 3.9 instructions per byte, more than the whole layer's
 * arithmetic per padded row). Where both pointers are word aligned (channels a multiple of
 * 4), gcc is told so and copies 16 bytes with one LDM and one STM. */
#if defined(__GNUC__)
#define DW_ALIGNED4(ptr) __builtin_assume_aligned((ptr), 4)
#else
#define DW_ALIGNED4(ptr) (ptr)
#endif

DW_NO_LIBCALL static void dw_fill(int8_t *dst, int32_t value, int32_t n) {
    const uint32_t word = (uint32_t)(uint8_t)value * 0x01010101u;
    const uint32_t words[4] = {word, word, word, word};
    int32_t i = 0;
    if (((uintptr_t)dst & 3u) == 0) {
        int8_t *d = DW_ALIGNED4(dst);
        for (; i + 16 <= n; i += 16) {
            memcpy(d + i, words, 16);
        }
    } else {
        for (; i + 16 <= n; i += 16) {
            memcpy(dst + i, words, 16);
        }
    }
    for (; i + 4 <= n; i += 4) {
        memcpy(dst + i, &word, 4);
    }
    for (; i < n; ++i) {
        dst[i] = (int8_t)value;
    }
}

DW_NO_LIBCALL static void dw_copy(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i = 0;
    if ((((uintptr_t)dst | (uintptr_t)src) & 3u) == 0) {
        int8_t *d = DW_ALIGNED4(dst);
        const int8_t *s = DW_ALIGNED4(src);
        for (; i + 16 <= n; i += 16) {
            memcpy(d + i, s + i, 16);
        }
    } else {
        for (; i + 16 <= n; i += 16) {
            uint32_t w0, w1, w2, w3;
            memcpy(&w0, src + i, 4);
            memcpy(&w1, src + i + 4, 4);
            memcpy(&w2, src + i + 8, 4);
            memcpy(&w3, src + i + 12, 4);
            memcpy(dst + i, &w0, 4);
            memcpy(dst + i + 4, &w1, 4);
            memcpy(dst + i + 8, &w2, 4);
            memcpy(dst + i + 12, &w3, 4);
        }
    }
    for (; i + 4 <= n; i += 4) {
        uint32_t word;
        memcpy(&word, src + i, 4);
        memcpy(dst + i, &word, 4);
    }
    for (; i < n; ++i) {
        dst[i] = src[i];
    }
}

/* The row loops an entry point may use (its `shape`, a constant where dw_row is inlined):
 * every entry point calls only its own family's DSP loops, so a firmware links only the
 * families its layers use. A layer outside the family (which the compiler never passes) still
 * gets the right result, from the portable row. */
enum { DW_ANY, DW_3X3, DW_3X3P, DW_KX1, DW_KX1P };

/* One output row with the loop that fits the layer (direct calls, not function pointers, so
 * that the stack analysis sees every callee). */
DW_INLINE void dw_row(const ec_depthwise_conv2d_params_t *p, const int8_t *win0, int32_t rs, int32_t cs, int32_t step,
                      int32_t n, int8_t *out, const int shape, const int wide) {
#ifdef EC_DOT_DSP
    if (p->depth_multiplier == 1 && p->per_channel && p->k_h * p->k_w <= DW_DSP_MAX_TAPS) {
        /* The pair loops leave an odd last pixel to the single-pixel loops (called from here, not
         * from them, which keeps one frame fewer on the stack). */
        const int32_t paired = n - n % 2;
        int32_t done = 0;
        if ((shape == DW_3X3 || shape == DW_3X3P) && p->k_h == 3 && p->k_w == 3) {
            if (shape == DW_3X3P && step == cs) {
                done = paired;
                if (wide) {
                    dw_row_dsp_3x3p_w16(p, win0, rs, cs, paired, out);
                } else {
                    dw_row_dsp_3x3p_w8(p, win0, rs, cs, paired, out);
                }
                if (done == n) {
                    return;
                }
            }
            if (wide) {
                dw_row_dsp_3x3_w16(p, win0 + done * step, rs, cs, step, n - done, out + done * p->out_c);
            } else {
                dw_row_dsp_3x3_w8(p, win0 + done * step, rs, cs, step, n - done, out + done * p->out_c);
            }
            return;
        }
        if ((shape == DW_KX1 || shape == DW_KX1P) && p->k_w == 1) {
            if (shape == DW_KX1P && step == rs) {
                done = paired;
                if (wide) {
                    dw_row_dsp_kx1p_w16(p, win0, rs, paired, out);
                } else {
                    dw_row_dsp_kx1p_w8(p, win0, rs, paired, out);
                }
                if (done == n) {
                    return;
                }
            }
            if (wide) {
                dw_row_dsp_kx1_w16(p, win0 + done * step, rs, cs, step, n - done, out + done * p->out_c);
            } else {
                dw_row_dsp_kx1_w8(p, win0 + done * step, rs, cs, step, n - done, out + done * p->out_c);
            }
            return;
        }
        if (shape == DW_ANY) {
            if (wide) {
                dw_row_dsp_any_w16(p, win0, rs, cs, step, n, out);
            } else {
                dw_row_dsp_any_w8(p, win0, rs, cs, step, n, out);
            }
            return;
        }
    }
#else
    (void)shape;
    (void)wide;
#endif
    dw_row_portable(p, win0, rs, cs, step, n, out);
}

/* One output row whose windows reach outside the input, without the scratch block (a layer
 * whose block would be too big, e.g. a huge dilation): every tap checked, one channel at a
 * time. Slow, but only such layers take it. */
DW_NOINLINE void dw_row_checked(const ec_depthwise_conv2d_params_t *p, const int8_t *in_b, int32_t iy0, int8_t *out) {
    const int32_t pcm = p->per_channel ? -1 : 0;
    int32_t ox, oc, ky, kx;
    for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        for (oc = 0; oc < p->out_c; ++oc) {
            const int32_t ic = oc / p->depth_multiplier;
            int32_t acc = EC_C_S32(p->bias, oc);
            int32_t t = 0;
            for (ky = 0; ky < p->k_h; ++ky) {
                const int32_t iy = iy0 + ky * p->dil_h;
                for (kx = 0; kx < p->k_w; ++kx) {
                    const int32_t ix = ix0 + kx * p->dil_w;
                    const int32_t x = (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w)
                                          ? (int32_t)in_b[(iy * p->in_w + ix) * p->in_c + ic]
                                          : p->input_zp;
                    acc += x * dw_weight(p, oc, t);
                    ++t;
                }
            }
            out[oc] = dw_requantize(acc, EC_C_S32(p->requant, 2 * (oc & pcm)), EC_C_S32(p->requant, 2 * (oc & pcm) + 1),
                                    p->output_zp, p->act_min, p->act_max);
        }
        out += p->out_c;
    }
}

/* The whole layer, row by row (inlined into each entry point with its constant shape and
 * weight form). */
DW_INLINE void dw_conv(const ec_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch,
                       const int shape, const int wide) {
    const int32_t in_c = p->in_c;
    const int32_t span_w = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
    const int32_t span_h = (p->k_h - 1) * p->dil_h + 1;
    const int pads_w = p->pad_w > 0 || span_w - p->pad_w > p->in_w;
    /* Columns of a widened row: pad_w zero points, then the input's, then zero points. The block
     * is k_h * span_w * in_c bytes, which the compiler checked fits the scratch (pad_block). */
    const int32_t left = p->pad_w;
    const int32_t inside = ec_min_i32(p->in_w, span_w - left);
    const int32_t block_rs = p->pad_block ? span_w * in_c : 0;
    const int32_t cs = p->dil_w * in_c;
    const int32_t step = p->stride_w * in_c;
    int8_t *block = (int8_t *)scratch;
    int32_t b, oy, ky;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int8_t *out = output + (b * p->out_h + oy) * p->out_w * p->out_c;
            /* The row's windows: from src, rows rs bytes apart, n pixels step bytes apart (one
             * dw_row call below, so that it is inlined once into each entry point). */
            const int pads = pads_w || iy0 < 0 || iy0 + span_h > p->in_h;
            const int8_t *src = block;
            int32_t rs = block_rs, row_step = step, n = p->out_w;
            if (pads && !p->pad_block) {
                dw_row_checked(p, in_b, iy0, out);
                continue;
            }
            if (pads) {
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    int8_t *dst = block + ky * block_rs;
                    if (iy < 0 || iy >= p->in_h) {
                        dw_fill(dst, p->input_zp, block_rs);
                    } else {
                        dw_fill(dst, p->input_zp, left * in_c);
                        dw_copy(dst + left * in_c, in_b + iy * p->in_w * in_c, inside * in_c);
                        dw_fill(dst + (left + inside) * in_c, p->input_zp, (span_w - left - inside) * in_c);
                    }
                }
            } else {
                /* The input in place (iy0 >= 0 here); no padding in this layer's columns, so
                 * pad_w == 0 and the windows start at column 0. */
                src = in_b + iy0 * p->in_w * in_c;
                rs = p->dil_h * p->in_w * in_c;
                if (p->out_w == 1) {
                    /* One pixel per row (str_ww's Kx1 layers): the unpadded rows that follow are
                     * one run of pixels stride_h input rows apart, computed in one call. */
                    n = 1;
                    while (oy + n < p->out_h && (oy + n) * p->stride_h - p->pad_h + span_h <= p->in_h) {
                        ++n;
                    }
                    row_step = p->stride_h * p->in_w * in_c;
                    oy += n - 1;
                }
            }
            dw_row(p, src, rs, cs, row_step, n, out, shape, wide);
        }
    }
}

/* The entry points (ec_depthwise_conv.h). Without the DSP path they all run the portable rows,
 * which read whichever weight form is set: one shared copy of the layer loop. */
#ifdef EC_DOT_DSP
#define DW_ENTRY(name, shape, wide)                                                                        \
    void name(const ec_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch) { \
        dw_conv(p, input, output, scratch, (shape), (wide));                                               \
    }
#else
static void dw_conv_portable(const ec_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output,
                             void *scratch) {
    dw_conv(p, input, output, scratch, DW_ANY, 0);
}
#define DW_ENTRY(name, shape, wide)                                                                        \
    void name(const ec_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch) { \
        dw_conv_portable(p, input, output, scratch);                                                       \
    }
#endif

DW_ENTRY(ec_depthwise_conv2d_s8, DW_ANY, 0)
DW_ENTRY(ec_depthwise_conv2d_s8_w16, DW_ANY, 1)
DW_ENTRY(ec_depthwise_conv2d_s8_3x3, DW_3X3, 0)
DW_ENTRY(ec_depthwise_conv2d_s8_3x3_w16, DW_3X3, 1)
DW_ENTRY(ec_depthwise_conv2d_s8_3x3p, DW_3X3P, 0)
DW_ENTRY(ec_depthwise_conv2d_s8_3x3p_w16, DW_3X3P, 1)
DW_ENTRY(ec_depthwise_conv2d_s8_kx1, DW_KX1, 0)
DW_ENTRY(ec_depthwise_conv2d_s8_kx1_w16, DW_KX1, 1)
DW_ENTRY(ec_depthwise_conv2d_s8_kx1p, DW_KX1P, 0)
DW_ENTRY(ec_depthwise_conv2d_s8_kx1p_w16, DW_KX1P, 1)

/* ---- DEPTHWISE_CONV_2D 16x8 (ec_depthwise_conv2d_s16) -------------------------------------
 *
 * Bit-exact with TFLite's reference DepthwiseConvPerChannel for int16 (TFLite Micro's): per
 * output channel, the sum of x * w over the taps inside the input (padding skipped; zero points
 * are 0) in int64, plus the bias, requantized by the 64-bit MultiplyByQuantizedMultiplier
 * (ec_mac16_output). Per output pixel, the taps inside the input are one rectangle
 * [ky0, ky1) x [kx0, kx1), found once.
 * - Portable path: one channel at a time, int32 or int64 sum (sum32, ec_dot.h).
 * - Arm DSP path, depth multiplier 1: four channels at a time (where the window lies inside the
 *   input, one loop over the taps with the compiler's table of their input offsets); an input word holds two
 *   channels' int16 values (x0, x1), SXTB16 of a stored weight quad (c0, c2, c1, c3) gives the
 *   halfwords (w0, w1) (ror #8: (w2, w3)), and SMLABB / SMLATT (SMLALBB / SMLALTT for int64)
 *   multiply matching halfwords: 9 instructions per 4 MACs, no extension of the activations.
 *   The last out_c % 4 channels take the portable loop.
 * Both add the same products per channel (in the same order, even): equal sums.
 * Why nothing overflows: window arithmetic bounded by check_spatial_indices (as the int8
 * kernel); partial sums: ec_dot.h (sum32 proved per layer, else int64: |sum| <= 2^22 * taps);
 * sum + bias and the requantization: ec_mac16_output; the clamp bounds lie in int16. */

#ifdef EC_DOT_DSP
/* The outputs of a block of 4 channels: apart from the loops, so that the compiler keeps the
 * int32 sums' requantization one SMLAL each (inlined, it merges both forms into the int64 one). */
#if defined(__GNUC__)
#define EC_DW16_OUT static __attribute__((noinline))
#else
#define EC_DW16_OUT static
#endif
EC_DW16_OUT void dw16_out4_32(int16_t *out, int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int64_t *bc,
                              const int32_t *rc, const int32_t act[2]) {
    out[0] = ec_mac16_output32(a0, bc[0], rc, 0, act[0], act[1]);
    out[1] = ec_mac16_output32(a1, bc[1], rc + 2, 0, act[0], act[1]);
    out[2] = ec_mac16_output32(a2, bc[2], rc + 4, 0, act[0], act[1]);
    out[3] = ec_mac16_output32(a3, bc[3], rc + 6, 0, act[0], act[1]);
}
#endif

void ec_depthwise_conv2d_s16(const ec_depthwise_conv2d_s16_params_t *p, const int16_t *input, int16_t *output) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c, k_w = p->k_w;
    const int32_t dm = p->depth_multiplier, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t quads_end = out_c - out_c % 4; /* channels stored in quads */
    const int32_t sum32 = p->sum32, act_min = p->act_min, act_max = p->act_max;
    EC_CREF(int64_t) const bias = p->bias;
    EC_CREF(int32_t) const requant = p->requant;
    EC_CREF(int8_t) const weights = p->weights;
#ifdef EC_DOT_DSP
    const int32_t act[2] = {p->act_min, p->act_max};
    EC_CREF(int32_t) const tap_off = p->tap_off;
    const int32_t taps = p->k_h * k_w;
#endif
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *const in_b = input + b * in_h * in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            ec_valid_taps(iy0, dil_h, p->k_h, in_h, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int16_t *const out = output + ((b * p->out_h + oy) * p->out_w + ox) * out_c;
                int32_t kx0, kx1;
                ec_valid_taps(ix0, dil_w, k_w, in_w, &kx0, &kx1);
                c = 0;
#ifdef EC_DOT_DSP
                if (dm == 1) {
                    const int interior = ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == k_w;
                    for (; c < quads_end; c += 4) {
                        int64_t s0, s1, s2, s3;
                        const int64_t *const bc = bias + c;
                        const int32_t *const rc = requant + 2 * c;
                        if (sum32 && interior) {
                            /* the window inside the input (most pixels): one loop over the taps */
                            const int16_t *const xb = in_b + (iy0 * in_w + ix0) * in_c + c;
                            const int8_t *wr = weights + c;
                            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, t;
                            for (t = 0; t < taps; ++t, wr += out_c) {
                                const int16_t *const xp = xb + tap_off[t];
                                uint32_t x01, x23, wv, we, wo;
                                memcpy(&x01, xp, 4);
                                memcpy(&x23, xp + 2, 4);
                                memcpy(&wv, wr, 4);
                                we = ec_sxtb16(wv);
                                wo = ec_sxtb16_ror8(wv);
                                a0 = ec_smlabb(x01, we, a0);
                                a1 = ec_smlatt(x01, we, a1);
                                a2 = ec_smlabb(x23, wo, a2);
                                a3 = ec_smlatt(x23, wo, a3);
                            }
                            dw16_out4_32(out + c, a0, a1, a2, a3, bc, rc, act);
                            continue;
                        }
                        if (sum32) {
                            /* int32 (sum32 proved per layer): SMLABB/SMLATT; the int64 twin below
                             * (SMLALBB/SMLALTT) adds the same products in the same order. */
                            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                            for (ky = ky0; ky < ky1; ++ky) {
                                const int16_t *xr = in_b + (iy0 + ky * dil_h) * in_w * in_c + c;
                                const int8_t *wr = weights + ky * k_w * out_c + c;
                                for (kx = kx0; kx < kx1; ++kx) {
                                    uint32_t x01, x23, wv, we, wo;
                                    memcpy(&x01, xr + (ix0 + kx * dil_w) * in_c, 4);
                                    memcpy(&x23, xr + (ix0 + kx * dil_w) * in_c + 2, 4);
                                    memcpy(&wv, wr + kx * out_c, 4);
                                    we = ec_sxtb16(wv);
                                    wo = ec_sxtb16_ror8(wv);
                                    a0 = ec_smlabb(x01, we, a0);
                                    a1 = ec_smlatt(x01, we, a1);
                                    a2 = ec_smlabb(x23, wo, a2);
                                    a3 = ec_smlatt(x23, wo, a3);
                                }
                            }
                            dw16_out4_32(out + c, a0, a1, a2, a3, bc, rc, act);
                            continue;
                        }
                        {
                            /* The int64 twin of the sum32 loop above: kept apart so a layer proved
                             * to fit int32 keeps the cheaper 32-bit MACs. */
                            s0 = s1 = s2 = s3 = 0;
                            for (ky = ky0; ky < ky1; ++ky) {
                                const int16_t *xr = in_b + (iy0 + ky * dil_h) * in_w * in_c + c;
                                const int8_t *wr = weights + ky * k_w * out_c + c;
                                for (kx = kx0; kx < kx1; ++kx) {
                                    uint32_t x01, x23, wv, we, wo;
                                    memcpy(&x01, xr + (ix0 + kx * dil_w) * in_c, 4);
                                    memcpy(&x23, xr + (ix0 + kx * dil_w) * in_c + 2, 4);
                                    memcpy(&wv, wr + kx * out_c, 4);
                                    we = ec_sxtb16(wv);
                                    wo = ec_sxtb16_ror8(wv);
                                    s0 = ec_smlalbb(x01, we, s0);
                                    s1 = ec_smlaltt(x01, we, s1);
                                    s2 = ec_smlalbb(x23, wo, s2);
                                    s3 = ec_smlaltt(x23, wo, s3);
                                }
                            }
                        }
                        out[c] = ec_mac16_output(s0, bc[0], rc, 0, act_min, act_max);
                        out[c + 1] = ec_mac16_output(s1, bc[1], rc + 2, 0, act_min, act_max);
                        out[c + 2] = ec_mac16_output(s2, bc[2], rc + 4, 0, act_min, act_max);
                        out[c + 3] = ec_mac16_output(s3, bc[3], rc + 6, 0, act_min, act_max);
                    }
                }
#endif
                for (; c < out_c; ++c) {
                    const int32_t ic = c / dm;
                    const int32_t wc = c < quads_end ? (c & ~3) + EC_S16_SLOT(c & 3) : c;
                    int32_t a32 = 0;
                    int64_t a64 = 0;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int16_t *xr = in_b + (iy0 + ky * dil_h) * in_w * in_c + ic;
                        EC_CREF(int8_t) const wr = weights + ky * k_w * out_c + wc;
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int32_t prod =
                                (int32_t)xr[(ix0 + kx * dil_w) * in_c] * (int32_t)EC_WEIGHT_S8(wr + kx * out_c);
                            if (sum32) {
                                a32 += prod;
                            } else {
                                a64 += prod;
                            }
                        }
                    }
                    out[c] = sum32 ? ec_mac16_output32(a32, EC_C_S64(bias, c), EC_CADD(requant, 2 * c, int32_t), 0,
                                                       act_min, act_max)
                                   : ec_mac16_output(a64, EC_C_S64(bias, c), EC_CADD(requant, 2 * c, int32_t), 0,
                                                     act_min, act_max);
                }
            }
        }
    }
}
