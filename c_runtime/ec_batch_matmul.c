/* edgeconv C runtime: BATCH_MATMUL (see ec_batch_matmul.h).
 *
 * int8: TFLite sums (L - lhs_zp) * (R - rhs_zp) in int32. Here the sum is rearranged as
 *   L . R  -  rhs_zp * sum_k L[m][k]  +  (K * lhs_zp * rhs_zp - lhs_zp * sum_k R[k][n])
 * so that the dot product runs on the raw int8 values (ec_dot_s8, SMLAD on the DSP path).
 * The compiler proves K * (128 + |lhs_zp|) * (128 + |rhs_zp|) <= INT32_MAX, which bounds
 * every partial sum of every term (|L|, |R| <= 128), so the int32 result equals TFLite's.
 * int16: zero points are 0; products fit int32 and are summed in int64 as in TFLite, then
 * requantized with its 64-bit MultiplyByQuantizedMultiplier (the compiler proves |sum| < 2^47).
 *
 * Offsets and sizes are int32: every one is a position inside a tensor (at most 2^28
 * elements, the reader's limit). */
#include <string.h>

#include "ec_batch_matmul.h"

#include "ec_dot.h"
#include "ec_fixedpoint.h"

#if defined(__ARM_FEATURE_DSP) && !defined(EC_NO_DSP)
#define EC_BMM_DSP 1
/* acc + a.lo * b.lo + a.hi * b.hi over signed halfwords, in 64 bits: one SMLALD. */
static inline int64_t ec_bmm_smlald(uint32_t a, uint32_t b, int64_t acc) {
    uint32_t lo = (uint32_t)(uint64_t)acc;
    uint32_t hi = (uint32_t)((uint64_t)acc >> 32);
    __asm__("smlald %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b));
    return (int64_t)(((uint64_t)hi << 32) | lo); /* wraps modulo 2^64 on our compilers */
}
#endif

/* sum x[i] * y[i] for int16 vectors, in int64. */
static int64_t ec_bmm_dot_s16(const int16_t *x, const int16_t *y, int32_t n) {
    int64_t acc = 0;
    int32_t i = 0;
#ifdef EC_BMM_DSP
    for (; i + 2 <= n; i += 2) {
        uint32_t a, b;
        memcpy(&a, x + i, 4); /* no alignment assumed: one unaligned-capable load */
        memcpy(&b, y + i, 4);
        acc = ec_bmm_smlald(a, b, acc);
    }
#endif
    for (; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)y[i];
    }
    return acc;
}

/* The same with y the constant operand (a reference: in program memory on an AVR). */
static int64_t ec_bmm_dot_s16_w(const int16_t *x, EC_CREF(int16_t) y, int32_t n) {
#ifdef EC_BMM_DSP
    return ec_bmm_dot_s16(x, y, n);
#else
    int64_t acc = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)EC_C_S16(y, i);
    }
    return acc;
#endif
}

/* dst[c][r] = src[r][c] for a rows x cols matrix. */
static void ec_bmm_transpose_s8(const int8_t *src, int32_t rows, int32_t cols, int8_t *dst) {
    int32_t r, c;
    for (r = 0; r < rows; ++r) {
        for (c = 0; c < cols; ++c) {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

static void ec_bmm_transpose_s16(const int16_t *src, int32_t rows, int32_t cols, int16_t *dst) {
    int32_t r, c;
    for (r = 0; r < rows; ++r) {
        for (c = 0; c < cols; ++c) {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

/* The constant operand's variables: references where the constants are in flash (ec_common.h),
 * so their own variables there; elsewhere the run-time operand's variables serve both, as
 * plain pointers (the object code is what it was before references existed). */
#if defined(EC_CONSTANTS_IN_FLASH)
#define EC_BMM_C(v) v##_c
#else
#define EC_BMM_C(v) v
#endif

/* ec_bmm_s16 below has the same batch walk and transposes for int16 (int64 sums, no zero-point
 * corrections): kept apart so a firmware links only the type it uses. */
static void ec_bmm_s8(const ec_batch_matmul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output,
                      void *scratch) {
    const int32_t M = p->rows, N = p->cols, K = p->depth;
    /* Scratch: the column corrections (int32, at the 16-byte aligned start), then the
     * transposed operands. */
    int32_t *corr_buf = (int32_t *)scratch;
    int8_t *lhs_buf = (int8_t *)scratch + (rhs ? 4 * N : 0);
    int8_t *rhs_buf = lhs_buf + (p->lhs_kmajor ? M * K : 0);
    int32_t b, m, n, k;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *L = lhs + EC_C_S32(p->lhs_offsets, b);
        const int8_t *R;
        const int32_t *corr;
        int8_t *out = output + b * M * N;
#if defined(EC_CONSTANTS_IN_FLASH)
        EC_CREF(int8_t) R_c = p->rhs_t;
        EC_CREF(int32_t) corr_c = p->rhs_corr;
        R = rhs;
        corr = corr_buf;
#endif
        if (p->lhs_kmajor) {
            ec_bmm_transpose_s8(L, K, M, lhs_buf);
            L = lhs_buf;
        }
        if (rhs) {
            R = rhs + EC_C_S32(p->rhs_offsets, b);
            if (p->rhs_kmajor) {
                ec_bmm_transpose_s8(R, K, N, rhs_buf);
                R = rhs_buf;
            }
            for (n = 0; n < N; ++n) {
                int32_t sum = 0;
                for (k = 0; k < K; ++k) {
                    sum += R[n * K + k];
                }
                corr_buf[n] = K * p->lhs_zp * p->rhs_zp - p->lhs_zp * sum;
            }
            corr = corr_buf;
        } else {
            EC_BMM_C(R) = EC_CADD(p->rhs_t, EC_C_S32(p->rhs_offsets, b), int8_t);
            EC_BMM_C(corr) = EC_CADD(p->rhs_corr, EC_C_S32(p->rhs_offsets, b) / K, int32_t);
        }
        for (m = 0; m < M; ++m) {
            const int8_t *row = L + m * K;
            int32_t row_sum = 0;
            int32_t row_term;
            for (k = 0; k < K; ++k) {
                row_sum += row[k];
            }
            row_term = p->rhs_zp * row_sum;
            for (n = 0; n < N; ++n) {
                /* the constant operand (rhs 0) through the weight accessor (ec_dot_s8_w) */
                const int32_t acc = rhs ? ec_dot_s8(row, R + n * K, K, corr[n] - row_term)
                                        : ec_dot_s8_w(row, EC_CADD(EC_BMM_C(R), n * K, int8_t), K,
                                                      EC_C_S32(EC_BMM_C(corr), n) - row_term);
                const int32_t v = ec_requantize(acc, p->multiplier, (int)p->shift) + p->output_zp;
                out[m * N + n] = (int8_t)ec_clamp_i32(v, p->act_min, p->act_max);
            }
        }
    }
}

/* The int16 twin of ec_bmm_s8 above (int64 sums): kept apart so a firmware links only the type
 * it uses. */
static void ec_bmm_s16(const ec_batch_matmul_params_t *p, const int16_t *lhs, const int16_t *rhs, int16_t *output,
                       void *scratch) {
    const int32_t M = p->rows, N = p->cols, K = p->depth;
    int16_t *lhs_buf = (int16_t *)scratch;
    int16_t *rhs_buf = lhs_buf + (p->lhs_kmajor ? M * K : 0);
    int32_t b, m, n;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *L = lhs + EC_C_S32(p->lhs_offsets, b);
        const int16_t *R;
        int16_t *out = output + b * M * N;
#if defined(EC_CONSTANTS_IN_FLASH)
        EC_CREF(int16_t) R_c = p->rhs_t16;
        R = rhs;
#endif
        if (p->lhs_kmajor) {
            ec_bmm_transpose_s16(L, K, M, lhs_buf);
            L = lhs_buf;
        }
        if (rhs) {
            R = rhs + EC_C_S32(p->rhs_offsets, b);
            if (p->rhs_kmajor) {
                ec_bmm_transpose_s16(R, K, N, rhs_buf);
                R = rhs_buf;
            }
        } else {
            EC_BMM_C(R) = EC_CADD(p->rhs_t16, EC_C_S32(p->rhs_offsets, b), int16_t);
        }
        for (m = 0; m < M; ++m) {
            for (n = 0; n < N; ++n) {
                const int64_t sum = rhs ? ec_bmm_dot_s16(L + m * K, R + n * K, K)
                                        : ec_bmm_dot_s16_w(L + m * K, EC_CADD(EC_BMM_C(R), n * K, int16_t), K);
                const int32_t v = ec_requantize_s64(sum, p->multiplier, (int)p->shift);
                out[m * N + n] = (int16_t)ec_clamp_i32(v, p->act_min, p->act_max);
            }
        }
    }
}

void ec_batch_matmul_s8(const ec_batch_matmul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output,
                        void *scratch) {
    ec_bmm_s8(p, lhs, rhs, output, scratch);
}

void ec_batch_matmul_s8_c(const ec_batch_matmul_params_t *p, const int8_t *lhs, int8_t *output, void *scratch) {
    ec_bmm_s8(p, lhs, 0, output, scratch);
}

void ec_batch_matmul_s16(const ec_batch_matmul_params_t *p, const int16_t *lhs, const int16_t *rhs, int16_t *output,
                         void *scratch) {
    ec_bmm_s16(p, lhs, rhs, output, scratch);
}

void ec_batch_matmul_s16_c(const ec_batch_matmul_params_t *p, const int16_t *lhs, int16_t *output, void *scratch) {
    ec_bmm_s16(p, lhs, 0, output, scratch);
}
