/* edgeconv C runtime: CONV_2D for int8.
 *
 * Bit-exact with TFLite's reference ConvPerChannel. The input zero point is folded into the
 * bias at compile time (acc = bias' + sum(x * w)), which TFLite's (x - zp) * w form equals
 * exactly in int32 arithmetic; a tap that falls into the padding therefore reads the input
 * zero point, so that it adds nothing, as TFLite's skipped tap does.
 *
 * Both paths work on columns (im2col): for one output pixel and one group, the k_h * k_w *
 * filter_in_c input values under the kernel in (ky, kx, ic) order, padded taps filled with
 * the input zero point, and the column padded to k_pad (a multiple of 4) with zeros, which
 * meet zero weights. The multiply-accumulate loop then needs no bounds checks.
 * - Portable path: one pixel at a time, an int8 column; each column byte loaded serves the 4
 *   output channels of a weight block (4 accumulators).
 * - Arm DSP path (EC_DOT_DSP): two pixels at a time, their columns sign-extended to int16 and
 *   interleaved so that a register-blocked loop computes 4 output channels x 2 pixels (8
 *   accumulators) with SMLAD, two products per instruction. SXTB16 of an int8 word
 *   (x0, x1, x2, x3) gives the halfword pairs (x0, x2) and (with ror #8) (x1, x3); the
 *   columns are stored in that order and the compiler stores the weights to match (ec_conv.h),
 *   so no byte is ever permuted at run time.
 * The two paths read the same params and weights, and give the same int32 sums (the same
 * products, added in another order).
 *
 * Why no step leaves int32 (proved per model at compile time in edgeconv/lowering/ops/conv.py and
 * ranges.py, which refuse the layer otherwise):
 * - window arithmetic: oy * stride, iy0 = oy * stride - pad, (k - 1) * dil, ky * dil and
 *   iy0 + ky * dil are bounded by check_spatial_indices; a position times the row width or
 *   channel count is formed only inside the input, so it is below the tensor's element count
 *   (< 2^28, the reader's limit), as are weight and output offsets;
 * - the accumulator: every partial sum is the folded bias plus a subset of the products
 *   x * w (padding taps: zero point times weight; column padding: 0 * 0), whatever the order
 *   or the pairing SMLAD adds them in, so it is bounded by |bias'| + 128 * sum|w|, which
 *   check_accumulator proves <= 2^31 - 1;
 * - ec_requantize's left shift and the addition of the output zero point: check_requantize;
 *   its right shift is at most 31 (quantize_multiplier gives shifts >= -31, shifts above 30
 *   are refused);
 * - the clamp bounds lie in [-128, 127], so the narrowing to int8_t is exact.
 */
#include <string.h>

#include "ec_conv.h"
#include "ec_dot.h"
#include "ec_fixedpoint.h"

/* gcc turns the gather's byte loops into memset/memcpy calls, which cost more than the few
 * bytes they move here. */
#if defined(__GNUC__) && !defined(__clang__)
#define EC_CONV_GATHER_ATTR __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define EC_CONV_GATHER_ATTR
#endif

/* The natural-order int8 column of one output pixel (top-left input position iy0, ix0) for
 * group g, k_pad bytes. */
static EC_CONV_GATHER_ATTR void gather_s8(const ec_conv2d_params_t *p, const int8_t *in_b, int32_t iy0, int32_t ix0,
                                          int32_t g, int8_t *dst) {
    const int32_t fic = p->filter_in_c;
    const int32_t row_len = p->k_w * fic;
    const int8_t zp = (int8_t)p->input_zp; /* in [-128, 127]: the reader checks it */
    /* Without dilation along the width and without groups, the taps of a kernel row that lie
     * inside the input are one contiguous run of it; all of them when the window lies inside
     * horizontally. */
    const int rowwise = p->dil_w == 1 && fic == p->in_c;
    const int contiguous = rowwise && ix0 >= 0 && ix0 + p->k_w <= p->in_w;
    int32_t k = 0, ky, kx, i;
    if (contiguous && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
        /* the whole window inside (most pixels): k_h runs of row_len bytes, no checks */
        const int32_t k_h = p->k_h, step = p->dil_h * p->in_w * p->in_c, k_pad = p->k_pad;
        const int8_t *src = in_b + (iy0 * p->in_w + ix0) * p->in_c;
        for (ky = 0; ky < k_h; ++ky) {
            for (i = 0; i + 4 <= row_len; i += 4) {
                memcpy(dst + k + i, src + i, 4);
            }
            for (; i < row_len; ++i) {
                dst[k + i] = src[i];
            }
            k += row_len;
            if (ky + 1 < k_h) {
                src += step; /* only to rows inside the input */
            }
        }
        for (; k < k_pad; ++k) {
            dst[k] = 0;
        }
        return;
    }
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int8_t *row;
        if (iy < 0 || iy >= p->in_h) {
            for (i = 0; i < row_len; ++i) {
                dst[k++] = zp;
            }
            continue;
        }
        row = in_b + iy * p->in_w * p->in_c + g * fic;
        if (rowwise) {
            /* taps lo..hi-1 of the row are inside: zero points, one run of the input, zero
             * points (lo <= hi: a row wholly outside is all zero points) */
            const int32_t lo = ix0 < 0 ? (-ix0 < p->k_w ? -ix0 : p->k_w) : 0;
            const int32_t room = p->in_w - ix0; /* taps before the right edge */
            const int32_t hi = room < p->k_w ? (room > lo ? room : lo) : p->k_w;
            const int32_t run = (hi - lo) * fic;
            int8_t *d = dst + k;
            for (i = 0; i < lo * fic; ++i) {
                d[i] = zp;
            }
            d += lo * fic;
            if (run > 0) {
                const int8_t *s = row + (ix0 + lo) * p->in_c;
                /* a word at a time (memcpy of 4 bytes: one unaligned load and store), then bytes */
                for (i = 0; i + 4 <= run; i += 4) {
                    memcpy(d + i, s + i, 4);
                }
                for (; i < run; ++i) {
                    d[i] = s[i];
                }
            }
            d += run;
            for (i = 0; i < (p->k_w - hi) * fic; ++i) {
                d[i] = zp;
            }
            k += row_len;
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (ix >= 0 && ix < p->in_w) {
                const int8_t *s = row + ix * p->in_c;
                for (i = 0; i < fic; ++i) {
                    dst[k++] = s[i];
                }
            } else {
                for (i = 0; i < fic; ++i) {
                    dst[k++] = zp;
                }
            }
        }
    }
    for (; k < p->k_pad; ++k) {
        dst[k] = 0;
    }
}

static inline int8_t conv_output(const ec_conv2d_params_t *p, int32_t acc, int32_t multiplier, int32_t shift) {
    acc = ec_requantize(acc, multiplier, (int)shift);
    return (int8_t)ec_clamp_i32(acc + p->output_zp, p->act_min, p->act_max);
}

/* Where the model's output pixel n starts its window, from its (oy, ox) in the output. */
typedef struct {
    int32_t b, oy, ox;
} conv_pos_t;

static inline void pos_next(const ec_conv2d_params_t *p, conv_pos_t *q) {
    if (++q->ox == p->out_w) {
        q->ox = 0;
        if (++q->oy == p->out_h) {
            q->oy = 0;
            ++q->b;
        }
    }
}

static inline const int8_t *pos_input(const ec_conv2d_params_t *p, const int8_t *input, const conv_pos_t *q) {
    return input + q->b * p->in_h * p->in_w * p->in_c;
}

#ifndef EC_DOT_DSP

/* Portable path (M0+, RISC-V, the host, -DEC_NO_DSP): register-blocked over 4 output channels
 * (the lanes of a weight block) x 2 pixels (two int8 columns, 2 * k_pad bytes of scratch), so
 * that each weight loaded serves 2 pixels and each column byte 4 channels: per tap 4 weight
 * loads and 2 column loads for 8 products, where one channel x one pixel at a time needed 2
 * loads per product. Within a quad of taps (k0, k1, k2, k3), lane ch (0..3) of a block finds
 * its weights at fixed offsets of the quad's 16 elements (ec_conv.h): int8 at o, o + 8, o + 2,
 * o + 10 with o = (ch >> 1) * 4 + (ch & 1); int16 at 2ch, 2ch + 8, 2ch + 1, 2ch + 9. So tap
 * kj of the quad has its 4 lanes' weights at int8 offsets (b, b + 1, b + 4, b + 5) with
 * b = 0, 8, 2, 10 for j = 0..3, and int16 offsets (b, b + 2, b + 4, b + 6) with b = 0, 8, 1, 9.
 * The lanes beyond a group's filters (fpg not a multiple of 4) are zero filters with a bias
 * entry (per padded channel): computed and dropped. A last odd pixel runs as a pair whose
 * second column is the first one again, its results dropped. Every accumulator is the folded
 * bias plus a subset of its products x * w, so it stays within |bias'| + 128 * sum|w|
 * (check_accumulator).
 * On Thumb-1 cores (Armv6-M such as the M0+, Armv8-M baseline) the 8 accumulators do not fit
 * in the 8 low registers MULS needs and gcc spills them (about 7.3 instructions a product in
 * the int8 loop, against 5.3 with one pixel): there EC_CONV_SECOND(two), the test for a second
 * pixel, is the constant 0 (written at each use, so that no variable is always false), and the
 * second pixel's accumulators are dead code, which leaves 4 channels x 1 pixel. Weights are
 * read through LD, EC_C_S16 or EC_C_S8, the bias and requantization pairs through EC_C_S32
 * (ec_common.h: references to constants, in program memory on an AVR). */
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1
#define EC_CONV_SECOND(two) 0
#else
#define EC_CONV_SECOND(two) (two)
#endif
#define EC_CONV_TAP(LD, j, o0, o1, o2, o3)                                                    \
    do {                                                                                      \
        const int32_t x = c0[(j)], y = c1[(j)];                                               \
        const int32_t wa = LD(w, (o0)), wb = LD(w, (o1)), wc = LD(w, (o2)), wd = LD(w, (o3)); \
        a0 += x * wa;                                                                         \
        a1 += x * wb;                                                                         \
        a2 += x * wc;                                                                         \
        a3 += x * wd;                                                                         \
        e0 += y * wa;                                                                         \
        e1 += y * wb;                                                                         \
        e2 += y * wc;                                                                         \
        e3 += y * wd;                                                                         \
    } while (0)

static void conv2d_portable(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t out_c = p->out_c;
    const int32_t fpg = out_c / groups;
    const int32_t total = p->batches * p->out_h * p->out_w;
    const int32_t quads = p->k_pad >> 2, k_pad = p->k_pad, oc_pad = p->oc_pad;
    EC_CREF(int8_t) const w8 = p->weights;
    EC_CREF(int16_t) const w16 = p->weights16;
    int8_t *const col = (int8_t *)scratch;
    conv_pos_t q = {0, 0, 0};
    int32_t n, g, oc, i, l;
    int two = 0;
    for (n = 0; n < total; n += 1 + two) {
        conv_pos_t q1 = q;
        const int8_t *in_b = pos_input(p, input, &q);
        const int8_t *in_b1;
        int8_t *out = output + n * out_c;
        two = EC_CONV_SECOND(n + 1 < total);
        if (EC_CONV_SECOND(two)) {
            pos_next(p, &q1);
        }
        in_b1 = pos_input(p, input, &q1);
        for (g = 0; g < groups; ++g) {
            gather_s8(p, in_b, q.oy * p->stride_h - p->pad_h, q.ox * p->stride_w - p->pad_w, g, col);
            if (EC_CONV_SECOND(two)) {
                gather_s8(p, in_b1, q1.oy * p->stride_h - p->pad_h, q1.ox * p->stride_w - p->pad_w, g, col + k_pad);
            }
            for (oc = 0; oc < fpg; oc += 4) {
                const int32_t ch = g * oc_pad + oc; /* padded channel index, a multiple of 4 */
                const int8_t *c0 = col, *c1 = EC_CONV_SECOND(two) ? col + k_pad : col;
                int32_t a0 = EC_C_S32(p->bias, ch), a1 = EC_C_S32(p->bias, ch + 1), a2 = EC_C_S32(p->bias, ch + 2),
                        a3 = EC_C_S32(p->bias, ch + 3);
                int32_t e0 = a0, e1 = a1, e2 = a2, e3 = a3;
                int32_t acc[8];
                if (w16 != 0) {
                    EC_CREF(int16_t) w = EC_CADD(w16, ch * k_pad, int16_t);
                    for (i = 0; i < quads; ++i, c0 += 4, c1 += 4, w = EC_CADD(w, 16, int16_t)) {
                        EC_CONV_TAP(EC_C_S16, 0, 0, 2, 4, 6);
                        EC_CONV_TAP(EC_C_S16, 1, 8, 10, 12, 14);
                        EC_CONV_TAP(EC_C_S16, 2, 1, 3, 5, 7);
                        EC_CONV_TAP(EC_C_S16, 3, 9, 11, 13, 15);
                    }
                } else {
                    EC_CREF(int8_t) w = EC_CADD(w8, ch * k_pad, int8_t);
                    for (i = 0; i < quads; ++i, c0 += 4, c1 += 4, w = EC_CADD(w, 16, int8_t)) {
                        EC_CONV_TAP(EC_C_S8, 0, 0, 1, 4, 5);
                        EC_CONV_TAP(EC_C_S8, 1, 8, 9, 12, 13);
                        EC_CONV_TAP(EC_C_S8, 2, 2, 3, 6, 7);
                        EC_CONV_TAP(EC_C_S8, 3, 10, 11, 14, 15);
                    }
                }
                /* written once per block, after the loop: the accumulators stay in registers
                 * inside it */
                acc[0] = a0;
                acc[1] = a1;
                acc[2] = a2;
                acc[3] = a3;
                acc[4] = e0;
                acc[5] = e1;
                acc[6] = e2;
                acc[7] = e3;
                for (l = 0; l < 4 && oc + l < fpg; ++l) {
                    EC_CREF(int32_t) rq = EC_CADD(p->requant, 2 * (ch + l), int32_t);
                    out[g * fpg + oc + l] = conv_output(p, acc[l], EC_C_S32(rq, 0), EC_C_S32(rq, 1));
                    if (EC_CONV_SECOND(two)) {
                        out[out_c + g * fpg + oc + l] = conv_output(p, acc[4 + l], EC_C_S32(rq, 0), EC_C_S32(rq, 1));
                    }
                }
            }
        }
        if (EC_CONV_SECOND(two)) {
            pos_next(p, &q1);
            q = q1;
        } else {
            pos_next(p, &q);
        }
    }
}
#undef EC_CONV_TAP
#undef EC_CONV_SECOND

/* Both entry points: the portable loop reads whichever form is set. */
void ec_conv2d_s8(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
    conv2d_portable(p, input, output, scratch);
}

void ec_conv2d_s8_w16(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
    conv2d_portable(p, input, output, scratch);
}

#else /* EC_DOT_DSP */

/* Column layout for a pixel pair, per quad of taps k0..k3, four words: pixel 0 (k0, k2),
 * pixel 1 (k0, k2), pixel 0 (k1, k3), pixel 1 (k1, k3), each a pair of int16. */

/* Both pixels' natural int8 columns (k_pad bytes each) to the interleaved int16 layout. */
static void widen_columns(const int8_t *c0, const int8_t *c1, uint32_t *col, int32_t quads) {
    int32_t i;
    for (i = 0; i < quads; ++i) {
        uint32_t v0, v1;
        memcpy(&v0, c0 + 4 * i, 4);
        memcpy(&v1, c1 + 4 * i, 4);
        col[0] = ec_sxtb16(v0);
        col[1] = ec_sxtb16(v1);
        col[2] = ec_sxtb16_ror8(v0);
        col[3] = ec_sxtb16_ror8(v1);
        col += 4;
    }
}

/* One pixel's column straight from the input when filter_in_c is a multiple of 4 (every tap
 * is whole quads): px = 0 or 1 selects its words in the pair layout. */
static void direct_column(const ec_conv2d_params_t *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int32_t g,
                          uint32_t *col, int32_t px) {
    const int32_t quads = p->filter_in_c >> 2;
    /* the zero point as two int16: what SXTB16 makes of a word of zero-point bytes */
    const uint32_t zz = ((uint32_t)p->input_zp & 0xFFFFu) * 0x10001u;
    int32_t ky, kx, i;
    col += px;
    if (p->dil_w == 1 && p->filter_in_c == p->in_c && ix0 >= 0 && ix0 + p->k_w <= p->in_w && iy0 >= 0 &&
        iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
        /* the whole window inside, each kernel row one contiguous run: k_h runs of quads */
        const int32_t k_h = p->k_h, row_quads = p->k_w * quads, step = p->dil_h * p->in_w * p->in_c;
        const int8_t *src = in_b + (iy0 * p->in_w + ix0) * p->in_c;
        for (ky = 0; ky < k_h; ++ky) {
            for (i = 0; i < row_quads; ++i) {
                uint32_t v;
                memcpy(&v, src + 4 * i, 4);
                col[0] = ec_sxtb16(v);
                col[2] = ec_sxtb16_ror8(v);
                col += 4;
            }
            if (ky + 1 < k_h) {
                src += step; /* only to rows inside the input */
            }
        }
        return;
    }
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int row_inside = iy >= 0 && iy < p->in_h;
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (row_inside && ix >= 0 && ix < p->in_w) {
                const int8_t *s = in_b + (iy * p->in_w + ix) * p->in_c + g * p->filter_in_c;
                for (i = 0; i < quads; ++i) {
                    uint32_t v;
                    memcpy(&v, s + 4 * i, 4);
                    col[0] = ec_sxtb16(v);
                    col[2] = ec_sxtb16_ror8(v);
                    col += 4;
                }
            } else {
                for (i = 0; i < quads; ++i) {
                    col[0] = zz;
                    col[2] = zz;
                    col += 4;
                }
            }
        }
    }
}

/* One quad of taps (k0..k3) for 4 output channels x 2 pixels, int8 weights: a<2 * ch + px>
 * += the products. col: the pair's 4 column words; w: the block's 16 weight bytes. */
#define EC_CONV_QUAD_S8(col, w)                            \
    do {                                                   \
        uint32_t c0_ = (col)[0], c1_ = (col)[1], v_, t_;   \
        memcpy(&v_, (w), 4); /* ch0, ch1 at k0, k2 */      \
        t_ = ec_sxtb16(v_);                                \
        a0 = ec_smlad_acc(t_, c0_, a0);                    \
        a1 = ec_smlad_acc(t_, c1_, a1);                    \
        t_ = ec_sxtb16_ror8(v_);                           \
        a2 = ec_smlad_acc(t_, c0_, a2);                    \
        a3 = ec_smlad_acc(t_, c1_, a3);                    \
        memcpy(&v_, (w) + 4, 4); /* ch2, ch3 at k0, k2 */  \
        t_ = ec_sxtb16(v_);                                \
        a4 = ec_smlad_acc(t_, c0_, a4);                    \
        a5 = ec_smlad_acc(t_, c1_, a5);                    \
        t_ = ec_sxtb16_ror8(v_);                           \
        a6 = ec_smlad_acc(t_, c0_, a6);                    \
        a7 = ec_smlad_acc(t_, c1_, a7);                    \
        c0_ = (col)[2];                                    \
        c1_ = (col)[3];                                    \
        memcpy(&v_, (w) + 8, 4); /* ch0, ch1 at k1, k3 */  \
        t_ = ec_sxtb16(v_);                                \
        a0 = ec_smlad_acc(t_, c0_, a0);                    \
        a1 = ec_smlad_acc(t_, c1_, a1);                    \
        t_ = ec_sxtb16_ror8(v_);                           \
        a2 = ec_smlad_acc(t_, c0_, a2);                    \
        a3 = ec_smlad_acc(t_, c1_, a3);                    \
        memcpy(&v_, (w) + 12, 4); /* ch2, ch3 at k1, k3 */ \
        t_ = ec_sxtb16(v_);                                \
        a4 = ec_smlad_acc(t_, c0_, a4);                    \
        a5 = ec_smlad_acc(t_, c1_, a5);                    \
        t_ = ec_sxtb16_ror8(v_);                           \
        a6 = ec_smlad_acc(t_, c0_, a6);                    \
        a7 = ec_smlad_acc(t_, c1_, a7);                    \
    } while (0)

/* The same with int16 weights: one word (two taps) per channel and half quad; w: the block's
 * 16 halfwords. */
#define EC_CONV_QUAD_S16(col, w)                     \
    do {                                             \
        uint32_t c0_ = (col)[0], c1_ = (col)[1], v_; \
        memcpy(&v_, (w), 4);                         \
        a0 = ec_smlad_acc(v_, c0_, a0);              \
        a1 = ec_smlad_acc(v_, c1_, a1);              \
        memcpy(&v_, (w) + 2, 4);                     \
        a2 = ec_smlad_acc(v_, c0_, a2);              \
        a3 = ec_smlad_acc(v_, c1_, a3);              \
        memcpy(&v_, (w) + 4, 4);                     \
        a4 = ec_smlad_acc(v_, c0_, a4);              \
        a5 = ec_smlad_acc(v_, c1_, a5);              \
        memcpy(&v_, (w) + 6, 4);                     \
        a6 = ec_smlad_acc(v_, c0_, a6);              \
        a7 = ec_smlad_acc(v_, c1_, a7);              \
        c0_ = (col)[2];                              \
        c1_ = (col)[3];                              \
        memcpy(&v_, (w) + 8, 4);                     \
        a0 = ec_smlad_acc(v_, c0_, a0);              \
        a1 = ec_smlad_acc(v_, c1_, a1);              \
        memcpy(&v_, (w) + 10, 4);                    \
        a2 = ec_smlad_acc(v_, c0_, a2);              \
        a3 = ec_smlad_acc(v_, c1_, a3);              \
        memcpy(&v_, (w) + 12, 4);                    \
        a4 = ec_smlad_acc(v_, c0_, a4);              \
        a5 = ec_smlad_acc(v_, c1_, a5);              \
        memcpy(&v_, (w) + 14, 4);                    \
        a6 = ec_smlad_acc(v_, c0_, a6);              \
        a7 = ec_smlad_acc(v_, c1_, a7);              \
    } while (0)

/* The blocks: 4 output channels x 2 pixels over `quads` quads of taps, acc[2 * ch + px]
 * (from bias[ch]); two quads per iteration halve the loop's cost. They stay out of line:
 * inlined into the pixel loop, their 8 accumulators compete with its variables for the 14
 * registers. Without gcc's pre-allocation scheduling, which hoists the next loads and so
 * needs more registers than there are, the loop keeps everything but one value in
 * registers. */
#if defined(__GNUC__) && !defined(__clang__)
#define EC_CONV_BLOCK_ATTR __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__clang__)
#define EC_CONV_BLOCK_ATTR __attribute__((noinline))
#else
#define EC_CONV_BLOCK_ATTR
#endif

/* What a block needs besides its weights: the pair's columns and where its outputs go. */
typedef struct {
    const uint32_t *col;
    int32_t quads, k_pad;
    int32_t fpg; /* output channels per group */
    int32_t output_zp, act_min, act_max;
    const int8_t *w8;
    const int16_t *w16;
    const int32_t *bias, *requant;
    int8_t *out0, *out1; /* the pixels' first output channel of the group; equal for a lone pixel */
} conv_run_t;

static inline int32_t block_output(int32_t acc, int32_t multiplier, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {
    acc = ec_requantize(acc, multiplier, (int)shift);
    return ec_clamp_i32(acc + zp, lo, hi);
}

/* The same when the activation clamps to the whole int8 range (no activation, or RELU with
 * the output zero point at -128): one SSAT. */
static inline int32_t block_output_full(int32_t acc, int32_t multiplier, int32_t shift, int32_t zp, int32_t lo,
                                        int32_t hi) {
    (void)lo;
    (void)hi;
    return ec_ssat8(ec_requantize(acc, multiplier, (int)shift) + zp);
}

/* Requantizes and stores channel j of the block for both pixels with `out` (block_output or
 * block_output_full). Everything it reads is in locals first: a store through int8_t * may
 * alias anything as far as the compiler knows. */
#define EC_CONV_STORE_CHANNEL(out, j, x0, x1)                                      \
    do {                                                                           \
        const int32_t m_ = rq[2 * (j)], s_ = rq[2 * (j) + 1];                      \
        const int32_t y0_ = out((x0), m_, s_, zp_, lo_, hi_); /* in [-128, 127] */ \
        const int32_t y1_ = out((x1), m_, s_, zp_, lo_, hi_);                      \
        o0_[j] = (int8_t)y0_;                                                      \
        o1_[j] = (int8_t)y1_;                                                      \
    } while (0)

#define EC_CONV_STORE_CHANNELS(out)                        \
    do {                                                   \
        EC_CONV_STORE_CHANNEL(out, 0, a0, a1);             \
        if (n_ch > 1) {                                    \
            EC_CONV_STORE_CHANNEL(out, 1, a2, a3);         \
            if (n_ch > 2) {                                \
                EC_CONV_STORE_CHANNEL(out, 2, a4, a5);     \
                if (n_ch > 3) {                            \
                    EC_CONV_STORE_CHANNEL(out, 3, a6, a7); \
                }                                          \
            }                                              \
        }                                                  \
    } while (0)

/* Requantizes and stores the block's n_ch (1..4) channels for both pixels, from a0..a7 (a
 * macro: gcc does not inline a function this size into the blocks, whose optimization
 * options differ). A lone last pixel has out1 == out0 and an identical column, so its second
 * store writes the same value. */
#define EC_CONV_BLOCK_STORE(r, oc, n_ch)                                            \
    do {                                                                            \
        const int32_t zp_ = (r)->output_zp, lo_ = (r)->act_min, hi_ = (r)->act_max; \
        int8_t *const o0_ = (r)->out0 + (oc), *const o1_ = (r)->out1 + (oc);        \
        if (lo_ == -128 && hi_ == 127 && (n_ch) >= 4) {                             \
            EC_CONV_STORE_CHANNEL(block_output_full, 0, a0, a1);                    \
            EC_CONV_STORE_CHANNEL(block_output_full, 1, a2, a3);                    \
            EC_CONV_STORE_CHANNEL(block_output_full, 2, a4, a5);                    \
            EC_CONV_STORE_CHANNEL(block_output_full, 3, a6, a7);                    \
        } else if (lo_ == -128 && hi_ == 127) {                                     \
            EC_CONV_STORE_CHANNELS(block_output_full);                              \
        } else if ((n_ch) >= 4) {                                                   \
            EC_CONV_STORE_CHANNEL(block_output, 0, a0, a1);                         \
            EC_CONV_STORE_CHANNEL(block_output, 1, a2, a3);                         \
            EC_CONV_STORE_CHANNEL(block_output, 2, a4, a5);                         \
            EC_CONV_STORE_CHANNEL(block_output, 3, a6, a7);                         \
        } else {                                                                    \
            EC_CONV_STORE_CHANNELS(block_output);                                   \
        }                                                                           \
    } while (0)

/* The blocks of a group (first padded channel ch0), one after another: output channels
 * oc..oc+3 of the group (those below fpg; padded channel ch0 + oc: bias, requantization pair and
 * weights there) x the pair's 2 pixels over all quads of taps, four quads per iteration. The
 * weights of consecutive blocks are consecutive. */
/* Twin: blocks_s16 below (int16 weights), kept apart so each is tuned on its own assembly. */
static EC_CONV_BLOCK_ATTR void blocks_s8(const conv_run_t *r, int32_t ch0) {
    const int8_t *w = r->w8 + ch0 * r->k_pad;
    int32_t oc;
    for (oc = 0; oc < r->fpg; oc += 4) {
        const int32_t *const bias = r->bias + ch0 + oc, *const rq = r->requant + 2 * (ch0 + oc);
        const int32_t n_ch = r->fpg - oc; /* 4 or more: all four */
        const uint32_t *col = r->col;
        int32_t a0 = bias[0], a1 = bias[0], a2 = bias[1], a3 = bias[1];
        int32_t a4 = bias[2], a5 = bias[2], a6 = bias[3], a7 = bias[3];
        int32_t fours = r->quads >> 2, rest = r->quads & 3;
        for (; rest > 0; --rest) {
            EC_CONV_QUAD_S8(col, w);
            col += 4;
            w += 16;
        }
        for (; fours > 0; --fours) {
            EC_CONV_QUAD_S8(col, w);
            EC_CONV_QUAD_S8(col + 4, w + 16);
            EC_CONV_QUAD_S8(col + 8, w + 32);
            EC_CONV_QUAD_S8(col + 12, w + 48);
            col += 16;
            w += 64;
        }
        EC_CONV_BLOCK_STORE(r, oc, n_ch);
    }
}

/* blocks_s8's twin for the int16 weight form, written out rather than generated by one macro:
 * the two differ in the weight type and the quad step, and each is read and tuned on its own
 * generated assembly. */
static EC_CONV_BLOCK_ATTR void blocks_s16(const conv_run_t *r, int32_t ch0) {
    const int16_t *w = r->w16 + ch0 * r->k_pad;
    int32_t oc;
    for (oc = 0; oc < r->fpg; oc += 4) {
        const int32_t *const bias = r->bias + ch0 + oc, *const rq = r->requant + 2 * (ch0 + oc);
        const int32_t n_ch = r->fpg - oc; /* 4 or more: all four */
        const uint32_t *col = r->col;
        int32_t a0 = bias[0], a1 = bias[0], a2 = bias[1], a3 = bias[1];
        int32_t a4 = bias[2], a5 = bias[2], a6 = bias[3], a7 = bias[3];
        int32_t fours = r->quads >> 2, rest = r->quads & 3;
        for (; rest > 0; --rest) {
            EC_CONV_QUAD_S16(col, w);
            col += 4;
            w += 16;
        }
        for (; fours > 0; --fours) {
            EC_CONV_QUAD_S16(col, w);
            EC_CONV_QUAD_S16(col + 4, w + 16);
            EC_CONV_QUAD_S16(col + 8, w + 32);
            EC_CONV_QUAD_S16(col + 12, w + 48);
            col += 16;
            w += 64;
        }
        EC_CONV_BLOCK_STORE(r, oc, n_ch);
    }
}

/* The driver of both entry points, inlined into each with wide constant (0: int8 weights,
 * 1: int16), so that each references one block loop and a firmware links only the loops its
 * layers use. */
#if defined(__GNUC__)
#define EC_CONV_DRIVER static inline __attribute__((always_inline))
#else
#define EC_CONV_DRIVER static inline
#endif

EC_CONV_DRIVER void conv2d_dsp(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch,
                               const int wide) {
    /* Fields in locals: stores through int8_t pointers may alias *p as far as the compiler
     * knows, so it would reload every field after each store. */
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t out_c = p->out_c;
    const int32_t fpg = out_c / groups;
    const int32_t total = p->batches * p->out_h * p->out_w;
    const int32_t k_pad = p->k_pad, oc_pad = p->oc_pad;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, pad_h = p->pad_h, pad_w = p->pad_w;
    const int direct = (p->filter_in_c & 3) == 0;
    /* 1x1 without padding: a pixel's column is its input channels (of the group), k_pad of
     * them, inside the input (the window of a 1x1 kernel without padding always is) */
    const int pointwise = direct && p->k_h == 1 && p->k_w == 1 && pad_h == 0 && pad_w == 0;
    const int8_t *const w8 = p->weights;
    const int16_t *const w16 = p->weights16;
    const int32_t *const bias = p->bias;
    /* scratch: the int16 pair columns (4 * k_pad bytes), then, unless direct, both pixels'
     * int8 columns (2 * k_pad bytes) */
    uint32_t *col = (uint32_t *)scratch;
    int8_t *c8 = (int8_t *)scratch + 4 * k_pad;
    conv_pos_t q0 = {0, 0, 0}, q1;
    conv_run_t r;
    int32_t n, g;
    r.col = col;
    r.quads = k_pad >> 2;
    r.k_pad = k_pad;
    r.fpg = fpg;
    r.w8 = w8;
    r.w16 = w16;
    r.bias = bias;
    r.requant = p->requant;
    r.output_zp = p->output_zp;
    r.act_min = p->act_min;
    r.act_max = p->act_max;
    if (pointwise && groups == 1 && stride_h == 1 && stride_w == 1) {
        /* 1x1, stride 1, no padding, no groups: the output has the input's pixels, and pixel
         * n's column is the input's n-th run of in_c (= k_pad) bytes */
        const int32_t in_c = p->in_c;
        for (n = 0; n < total; n += 2) {
            const int pair = n + 1 < total; /* a lone last pixel is computed twice */
            const int8_t *in0 = input + n * in_c;
            widen_columns(in0, pair ? in0 + in_c : in0, col, r.quads);
            r.out0 = output + n * out_c;
            r.out1 = pair ? r.out0 + out_c : r.out0;
            if (wide) {
                blocks_s16(&r, 0);
            } else {
                blocks_s8(&r, 0);
            }
        }
        return;
    }
    for (n = 0; n < total; n += 2) {
        const int pair = n + 1 < total; /* a lone last pixel is computed twice */
        const int8_t *in0 = pos_input(p, input, &q0);
        const int8_t *in1;
        int8_t *out0 = output + n * out_c;
        int8_t *out1 = pair ? out0 + out_c : out0;
        q1 = q0;
        if (pair) {
            pos_next(p, &q1);
        }
        in1 = pos_input(p, input, &q1);
        for (g = 0; g < groups; ++g) {
            const int32_t iy0 = q0.oy * stride_h - pad_h, ix0 = q0.ox * stride_w - pad_w;
            const int32_t iy1 = q1.oy * stride_h - pad_h, ix1 = q1.ox * stride_w - pad_w;
            const int32_t ch0 = g * oc_pad; /* the group's first padded channel */
            if (pointwise) {
                const int32_t fic = p->filter_in_c, in_w = p->in_w, in_c = p->in_c;
                widen_columns(in0 + (iy0 * in_w + ix0) * in_c + g * fic, in1 + (iy1 * in_w + ix1) * in_c + g * fic, col,
                              r.quads);
            } else if (direct) {
                direct_column(p, in0, iy0, ix0, g, col, 0);
                direct_column(p, in1, iy1, ix1, g, col, 1);
            } else {
                gather_s8(p, in0, iy0, ix0, g, c8);
                gather_s8(p, in1, iy1, ix1, g, c8 + k_pad);
                widen_columns(c8, c8 + k_pad, col, r.quads);
            }
            r.out0 = out0 + g * fpg;
            r.out1 = out1 + g * fpg;
            if (wide) {
                blocks_s16(&r, ch0);
            } else {
                blocks_s8(&r, ch0);
            }
        }
        q0 = q1;
        pos_next(p, &q0);
    }
}

void ec_conv2d_s8(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
    conv2d_dsp(p, input, output, scratch, 0);
}

void ec_conv2d_s8_w16(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
    conv2d_dsp(p, input, output, scratch, 1);
}

#endif /* EC_DOT_DSP */

/* ---- CONV_2D 16x8 (ec_conv2d_s16) ---------------------------------------------------------
 *
 * Bit-exact with TFLite's reference ConvPerChannel for int16 input (what TFLite Micro runs):
 * acc = sum over the taps inside the input of x * w (padding taps skipped; zero points are 0),
 * plus the bias, in int64 (int32 with an int32 bias), then requantized (ec_mac16_output).
 * One int16 column (im2col) per output pixel and group, taps outside the input and the
 * padding to k_pad set to 0, so the multiply-accumulate loops need no bounds checks; each
 * column serves the group's filters, 4 at a time (a weight block, ec_conv.h).
 * - Portable path: per block, 4 accumulators, one multiply-accumulate per weight.
 * - Arm DSP path (EC_DOT_DSP): per quad of taps, the two column words (x0, x1), (x2, x3) are
 *   loaded once for the 4 filters; SXTB16 of a filter's stored quad (k0, k2, k1, k3) gives
 *   (w0, w1) and, with ror #8, (w2, w3), which SMLAD multiplies with them: 24 instructions per
 *   16 MACs with int32 sums; with int64 sums (sum32 0), SMLALD, two filters at a time (the
 *   register file holds 4 64-bit accumulators, not 8).
 * Both add the same products per filter (in another order): equal sums, exact in int64, and
 * in int32 where sum32 proves that no partial sum overflows (ec_dot.h).
 * Why nothing overflows: window arithmetic as for the int8 kernel above (check_spatial_indices);
 * weight offsets are below the padded weight count (the lowering refuses 2^31 or more);
 * partial sums: ec_dot.h; sum + bias and the requantization: ec_mac16_output (defined for
 * any value); the clamp bounds lie in int16, so the narrowing is exact. */

void ec_conv2d_s16(const ec_conv2d_s16_params_t *p, const int16_t *input, int16_t *output, void *scratch) {
    int16_t *const col = (int16_t *)scratch;
    const int32_t fic = p->filter_in_c, in_c = p->in_c, out_c = p->out_c, k_w = p->k_w, k_pad = p->k_pad;
    const int32_t oc_pad = p->oc_pad;
    const int32_t groups = in_c / fic, fpg = out_c / groups;
    const int32_t taps = p->k_h * k_w * fic;
    const int32_t sum32 = p->sum32, acc32 = p->acc32, act_min = p->act_min, act_max = p->act_max;
    EC_CREF(int64_t) const bias = p->bias;
    EC_CREF(int32_t) const requant = p->requant;
    int32_t b, oy, ox, g, ky, kx, j, lane;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *const in_b = input + b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            ec_valid_taps(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int16_t *const out = output + ((b * p->out_h + oy) * p->out_w + ox) * out_c;
                const int whole = ky0 == 0 && ky1 == p->k_h;
                int32_t kx0, kx1;
                ec_valid_taps(ix0, p->dil_w, k_w, p->in_w, &kx0, &kx1);
                for (g = 0; g < groups; ++g) {
                    /* the column: zeros where the window leaves the input, and after the taps */
                    if (!(whole && kx0 == 0 && kx1 == k_w)) {
                        memset(col, 0, (size_t)taps * sizeof(int16_t));
                    }
                    for (j = taps; j < k_pad; ++j) {
                        col[j] = 0;
                    }
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int16_t *src = in_b + ((iy0 + ky * p->dil_h) * p->in_w) * in_c + g * fic;
                        for (kx = kx0; kx < kx1; ++kx) {
                            memcpy(col + (ky * k_w + kx) * fic, src + (ix0 + kx * p->dil_w) * in_c,
                                   (size_t)fic * sizeof(int16_t));
                        }
                    }
                    for (j = 0; j < fpg; j += 4) {
                        EC_CREF(int8_t) const w = p->weights + (g * oc_pad + j) * k_pad;
                        const int32_t lanes = fpg - j < 4 ? fpg - j : 4;
                        const int32_t oc0 = g * fpg + j;
                        if (sum32) {
                            int32_t s[4];
                            ec_dot4_s16x8(col, w, k_pad, s);
                            for (lane = 0; lane < lanes; ++lane) {
                                out[oc0 + lane] = ec_mac16_output32(s[lane], bias ? EC_C_S64(bias, oc0 + lane) : 0,
                                                                    EC_CADD(requant, 2 * (oc0 + lane), int32_t), acc32,
                                                                    act_min, act_max);
                            }
                        } else {
                            int64_t s[4];
                            ec_dot4_s16x8_64(col, w, k_pad, s);
                            for (lane = 0; lane < lanes; ++lane) {
                                out[oc0 + lane] = ec_mac16_output(s[lane], bias ? EC_C_S64(bias, oc0 + lane) : 0,
                                                                  EC_CADD(requant, 2 * (oc0 + lane), int32_t), acc32,
                                                                  act_min, act_max);
                            }
                        }
                    }
                }
            }
        }
    }
}
