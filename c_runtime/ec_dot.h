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

#endif /* EC_DOT_H */
