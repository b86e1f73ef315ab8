/* edgeconv C runtime: the int8 multiply-accumulates the MAC kernels spend their time in: the
 * dot product sum(x[i] * w[i]) + acc (CONV_2D, FULLY_CONNECTED) and, on the DSP path, four
 * independent lanes at once (DEPTHWISE_CONV_2D).
 *
 * Portable path: one multiply-accumulate per element.
 * Arm DSP path (__ARM_FEATURE_DSP, i.e. Cortex-M4/M7/M33/M55): four int8 at a time; SXTB16
 * sign-extends bytes 0 and 2 (and, after a rotate by 8, bytes 1 and 3) into two halfwords,
 * and SMLAD adds both halfword products to the accumulator in one instruction. The sum of
 * the same products in another order is the same int32 value, so both paths are bit-exact
 * with each other and with TFLite. Define EC_NO_DSP to force the portable path (tests
 * compare the two on an emulated core).
 */
#ifndef EC_DOT_H
#define EC_DOT_H

#include <string.h>

#include "ec_common.h"
#include "ec_fixedpoint.h"

#if defined(__ARM_FEATURE_DSP) && !defined(EC_NO_DSP)
#define EC_DOT_DSP 1

static inline uint32_t ec_sxtb16(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}

static inline uint32_t ec_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static inline int32_t ec_smlad(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* ec_smlad with the accumulator read and written in one register: in register-blocked
 * loops this keeps each accumulator in place, so the compiler needs no extra registers for
 * renamed sums. */
static inline int32_t ec_smlad_acc(uint32_t a, uint32_t b, int32_t acc) {
    __asm__("smlad %0, %1, %2, %0" : "+r"(acc) : "r"(a), "r"(b));
    return acc;
}

/* x saturated to [-128, 127]: one instruction. */
static inline int32_t ec_ssat8(int32_t x) {
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x));
    return r;
}

/* acc + bottom halfword(a) * bottom halfword(b); and the same with the top halfwords. */
static inline int32_t ec_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

static inline int32_t ec_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Four independent lanes: acc[k] += x[k] * w[k] for k = 0..3. */
static inline void ec_mac4_s8(const int8_t *x, const int8_t *w, int32_t acc[4]) {
    uint32_t xv, wv, xe, xo, we, wo;
    memcpy(&xv, x, 4);
    memcpy(&wv, w, 4);
    xe = ec_sxtb16(xv);      /* x0, x2 */
    xo = ec_sxtb16_ror8(xv); /* x1, x3 */
    we = ec_sxtb16(wv);
    wo = ec_sxtb16_ror8(wv);
    acc[0] = ec_smlabb(xe, we, acc[0]);
    acc[2] = ec_smlatt(xe, we, acc[2]);
    acc[1] = ec_smlabb(xo, wo, acc[1]);
    acc[3] = ec_smlatt(xo, wo, acc[3]);
}
#endif

static inline int32_t ec_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t acc) {
    int32_t i = 0;
#ifdef EC_DOT_DSP
    for (; i + 4 <= n; i += 4) {
        uint32_t xv, wv;
        /* memcpy: no alignment assumption; compilers turn it into one (unaligned) load. */
        memcpy(&xv, x + i, 4);
        memcpy(&wv, w + i, 4);
        acc = ec_smlad(ec_sxtb16(xv), ec_sxtb16(wv), acc);
        acc = ec_smlad(ec_sxtb16_ror8(xv), ec_sxtb16_ror8(wv), acc);
    }
#endif
    for (; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)w[i];
    }
    return acc;
}

/* The same with w a reference to constant weights (EC_CREF, EC_WEIGHT_S8: in program memory on
 * an AVR); x in RAM. The 16x8 dot products below take such references too. */
static inline int32_t ec_dot_s8_w(const int8_t *x, EC_CREF(int8_t) w, int32_t n, int32_t acc) {
#ifdef EC_DOT_DSP
    return ec_dot_s8(x, w, n, acc);
#else
    int32_t i;
    for (i = 0; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)EC_WEIGHT_S8(w + i);
    }
    return acc;
#endif
}

/* ---- 16x8: int16 activations times int8 weights (CONV_2D, DEPTHWISE_CONV_2D,
 * FULLY_CONNECTED with int16 activations) ---------------------------------------------------
 *
 * Weights are stored in quads (w0, w2, w1, w3) (EC_S16_SLOT): SXTB16 of such a word gives the
 * halfword pair (w0, w1), and with ror #8 (w2, w3), which SMLAD multiplies with the input words
 * (x0, x1) and (x2, x3) as they lie in memory: the int16 activations need no extension and the
 * int8 weights no extra flash. A last partial quad is stored the same way, zero padded.
 *
 * Two accumulator widths. TFLite accumulates 16x8 products in int64 (or in int32 where the
 * bias is int32). A product is at most 2^15 * 2^7 = 2^22 in magnitude, so any partial sum of
 * a channel's products (in any order or pairing) is bounded by 2^15 * sum|w|; where the
 * compiler proves that below 2^31 for every channel (sum|w| < 2^16, edgeconv/lowering/ops/mac.py
 * s16_sum_fits_int32), the kernels sum in int32 (SMLAD; one register) and widen the sum
 * exactly; otherwise in int64 (SMLALD, or int64 adds on the portable path). */

/* Where weight j of a quad is stored. */
#define EC_S16_SLOT(j) ((((j) & 1) << 1) | ((j) >> 1))

#ifdef EC_DOT_DSP
/* acc + (bottom halfwords product) + (top halfwords product), 64-bit accumulator. The int64
 * is split into its two words through uint64_t; the conversions back wrap (implementation-
 * defined, two's complement on every compiler we target), and never do for the sums the
 * kernels form (|sum| < 2^51). */
static inline int64_t ec_smlald(uint32_t a, uint32_t b, int64_t acc) {
    uint32_t lo = (uint32_t)(uint64_t)acc;
    uint32_t hi = (uint32_t)((uint64_t)acc >> 32);
    __asm__("smlald %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b));
    return (int64_t)(((uint64_t)hi << 32) | lo);
}

/* acc + bottom(a) * bottom(b), and acc + top(a) * top(b), 64-bit accumulators. */
static inline int64_t ec_smlalbb(uint32_t a, uint32_t b, int64_t acc) {
    uint32_t lo = (uint32_t)(uint64_t)acc;
    uint32_t hi = (uint32_t)((uint64_t)acc >> 32);
    __asm__("smlalbb %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b));
    return (int64_t)(((uint64_t)hi << 32) | lo);
}

static inline int64_t ec_smlaltt(uint32_t a, uint32_t b, int64_t acc) {
    uint32_t lo = (uint32_t)(uint64_t)acc;
    uint32_t hi = (uint32_t)((uint64_t)acc >> 32);
    __asm__("smlaltt %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b));
    return (int64_t)(((uint64_t)hi << 32) | lo);
}
#endif

/* sum x[i] * w[i] for i < n, w in the quad order above, summed in int32: the caller proves
 * that no partial sum leaves int32 (see above). x needs no alignment, w word alignment. */
/* ec_dot_s16x8_64 below is its int64 twin: kept apart so a caller that proves int32 sums keeps
 * SMLAD and 32-bit adds. */
static inline int32_t ec_dot_s16x8(const int16_t *x, EC_CREF(int8_t) w, int32_t n, int32_t acc) {
    int32_t i = 0, j;
#ifdef EC_DOT_DSP
    for (; i + 4 <= n; i += 4) {
        uint32_t x01, x23, wv;
        memcpy(&x01, x + i, 4);
        memcpy(&x23, x + i + 2, 4);
        memcpy(&wv, w + i, 4);
        acc = ec_smlad(x01, ec_sxtb16(wv), acc);
        acc = ec_smlad(x23, ec_sxtb16_ror8(wv), acc);
    }
#else
    for (; i + 4 <= n; i += 4) {
        acc += (int32_t)x[i] * (int32_t)EC_WEIGHT_S8(w + i) + (int32_t)x[i + 1] * (int32_t)EC_WEIGHT_S8(w + i + 2);
        acc +=
            (int32_t)x[i + 2] * (int32_t)EC_WEIGHT_S8(w + i + 1) + (int32_t)x[i + 3] * (int32_t)EC_WEIGHT_S8(w + i + 3);
    }
#endif
    for (j = 0; i < n; ++i, ++j) {
        acc += (int32_t)x[i] * (int32_t)EC_WEIGHT_S8(w + i - j + EC_S16_SLOT(j));
    }
    return acc;
}

/* The same summed in int64 (any weights: |sum| <= 2^22 * n). */
/* Kept apart from ec_dot_s16x8 above: only callers that cannot prove int32 sums pay for SMLALD
 * and int64 adds. */
static inline int64_t ec_dot_s16x8_64(const int16_t *x, EC_CREF(int8_t) w, int32_t n, int64_t acc) {
    int32_t i = 0, j;
#ifdef EC_DOT_DSP
    for (; i + 4 <= n; i += 4) {
        uint32_t x01, x23, wv;
        memcpy(&x01, x + i, 4);
        memcpy(&x23, x + i + 2, 4);
        memcpy(&wv, w + i, 4);
        acc = ec_smlald(x01, ec_sxtb16(wv), acc);
        acc = ec_smlald(x23, ec_sxtb16_ror8(wv), acc);
    }
#else
    for (; i + 4 <= n; i += 4) {
        /* each pair of products is at most 2^23 in magnitude: int32 */
        acc += (int32_t)x[i] * (int32_t)EC_WEIGHT_S8(w + i) + (int32_t)x[i + 1] * (int32_t)EC_WEIGHT_S8(w + i + 2);
        acc +=
            (int32_t)x[i + 2] * (int32_t)EC_WEIGHT_S8(w + i + 1) + (int32_t)x[i + 3] * (int32_t)EC_WEIGHT_S8(w + i + 3);
    }
#endif
    for (j = 0; i < n; ++i, ++j) {
        acc += (int32_t)x[i] * (int32_t)EC_WEIGHT_S8(w + i - j + EC_S16_SLOT(j));
    }
    return acc;
}

/* Four dot products at once (CONV_2D's and FULLY_CONNECTED's blocks of 4 filters or units): the
 * inputs col[0 .. k_pad) (k_pad a multiple of 4) with 4 weight rows stored quad by quad, each
 * quad the 4 rows' quads in the order above (16 bytes: row 0's (w0, w2, w1, w3), row 1's, ...).
 * Each pair of input words is loaded once for the 4 rows: 24 instructions per 16 MACs on the
 * DSP path. Summed in int32 (the caller proves that no partial sum leaves int32) ... */
static inline void ec_dot4_s16x8(const int16_t *col, EC_CREF(int8_t) w, int32_t k_pad, int32_t s[4]) {
#ifdef EC_DOT_DSP
    const int8_t *const w_end = w + 4 * k_pad;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (; w != w_end; w += 16, col += 4) {
        uint32_t x01, x23, w0, w1, w2, w3;
        memcpy(&x01, col, 4);
        memcpy(&x23, col + 2, 4);
        memcpy(&w0, w, 4);
        memcpy(&w1, w + 4, 4);
        memcpy(&w2, w + 8, 4);
        memcpy(&w3, w + 12, 4);
        a0 = ec_smlad_acc(x01, ec_sxtb16(w0), a0);
        a1 = ec_smlad_acc(x01, ec_sxtb16(w1), a1);
        a2 = ec_smlad_acc(x01, ec_sxtb16(w2), a2);
        a3 = ec_smlad_acc(x01, ec_sxtb16(w3), a3);
        a0 = ec_smlad_acc(x23, ec_sxtb16_ror8(w0), a0);
        a1 = ec_smlad_acc(x23, ec_sxtb16_ror8(w1), a1);
        a2 = ec_smlad_acc(x23, ec_sxtb16_ror8(w2), a2);
        a3 = ec_smlad_acc(x23, ec_sxtb16_ror8(w3), a3);
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
#else
    int32_t q, lane;
    for (lane = 0; lane < 4; ++lane) {
        EC_CREF(int8_t) wl = EC_CADD(w, 4 * lane, int8_t);
        int32_t a = 0;
        for (q = 0; q < k_pad; q += 4, wl = EC_CADD(wl, 16, int8_t)) {
            a += (int32_t)col[q] * EC_WEIGHT_S8(wl + 0) + (int32_t)col[q + 1] * EC_WEIGHT_S8(wl + 2);
            a += (int32_t)col[q + 2] * EC_WEIGHT_S8(wl + 1) + (int32_t)col[q + 3] * EC_WEIGHT_S8(wl + 3);
        }
        s[lane] = a;
    }
#endif
}

/* ... and in int64. */
static inline void ec_dot4_s16x8_64(const int16_t *col, EC_CREF(int8_t) w, int32_t k_pad, int64_t s[4]) {
#ifdef EC_DOT_DSP
    /* SMLALD, two filters at a time: the register file holds 4 64-bit accumulators, not 8 */
    int32_t pair, q;
    for (pair = 0; pair < 4; pair += 2) {
        const int8_t *const wp = w + 4 * pair;
        int64_t a0 = 0, a1 = 0;
        for (q = 0; q < k_pad; q += 4) {
            uint32_t x01, x23, w0, w1;
            memcpy(&x01, col + q, 4);
            memcpy(&x23, col + q + 2, 4);
            memcpy(&w0, wp + 4 * q, 4);
            memcpy(&w1, wp + 4 * q + 4, 4);
            a0 = ec_smlald(x01, ec_sxtb16(w0), a0);
            a1 = ec_smlald(x01, ec_sxtb16(w1), a1);
            a0 = ec_smlald(x23, ec_sxtb16_ror8(w0), a0);
            a1 = ec_smlald(x23, ec_sxtb16_ror8(w1), a1);
        }
        s[pair] = a0;
        s[pair + 1] = a1;
    }
#else
    int32_t q, lane;
    for (lane = 0; lane < 4; ++lane) {
        EC_CREF(int8_t) wl = EC_CADD(w, 4 * lane, int8_t);
        int64_t a = 0;
        for (q = 0; q < k_pad; q += 4, wl = EC_CADD(wl, 16, int8_t)) {
            /* two products of at most 2^22 each: int32 */
            a += (int32_t)col[q] * EC_WEIGHT_S8(wl + 0) + (int32_t)col[q + 1] * EC_WEIGHT_S8(wl + 2);
            a += (int32_t)col[q + 2] * EC_WEIGHT_S8(wl + 1) + (int32_t)col[q + 3] * EC_WEIGHT_S8(wl + 3);
        }
        s[lane] = a;
    }
#endif
}

/* One 16x8 output: TFLite's acc = sum + bias, requantized, clamped. acc32 (an int32 bias, or
 * none with quantized_bias_type INT32): TFLite's accumulator is int32, so acc wraps to int32
 * (what TFLite's int32 additions do in practice; modular, so the order of the additions does
 * not matter) and is requantized by the 32-bit MultiplyByQuantizedMultiplier (ec_requantize,
 * rq = multiplier, shift; bias = the model's bias); otherwise acc is int64 and the 64-bit one
 * applies with the bias folded in (ec_requantize_s64_folded: rq = Q15 multiplier, total
 * shift; bias = the folded bias, never absent). Every step is defined for any value. */
static inline int16_t ec_mac16_output(int64_t sum, int64_t bias, EC_CREF(int32_t) rq, int32_t acc32, int32_t act_min,
                                      int32_t act_max) {
    int32_t r;
    if (acc32) {
        r = ec_requantize((int32_t)(uint32_t)((uint64_t)sum + (uint64_t)bias), EC_C_S32(rq, 0), (int)EC_C_S32(rq, 1));
    } else {
        r = ec_requantize_s64_folded(sum, EC_C_S32(rq, 0), (int)EC_C_S32(rq, 1), bias);
    }
    return (int16_t)ec_clamp_i32(r, act_min, act_max);
}

/* The same for an int32 sum (sum32). */
static inline int16_t ec_mac16_output32(int32_t sum, int64_t bias, EC_CREF(int32_t) rq, int32_t acc32, int32_t act_min,
                                        int32_t act_max) {
    int32_t r;
    if (acc32) {
        r = ec_requantize((int32_t)((uint32_t)sum + (uint32_t)(uint64_t)bias), EC_C_S32(rq, 0), (int)EC_C_S32(rq, 1));
    } else {
        r = ec_requantize_s32_folded(sum, EC_C_S32(rq, 0), (int)EC_C_S32(rq, 1), bias);
    }
    return (int16_t)ec_clamp_i32(r, act_min, act_max);
}

#endif /* EC_DOT_H */
