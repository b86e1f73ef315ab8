/* edgeconv C runtime: BATCH_MATMUL, int8 and int16 (TFLite Micro's batch_matmul.cc). */
#ifndef EC_BATCH_MATMUL_H
#define EC_BATCH_MATMUL_H

#include "ec_common.h"

/* out[b][m][n] = requantize(sum_k (L[b][m][k] - lhs_zp) * (R[b][k][n] - rhs_zp)) + output_zp
 * for the `batches` output matrices (the broadcast batch dimensions, flattened). The
 * compiler resolves broadcasting into two offset tables: the element offset of the LHS and
 * RHS matrix each output matrix reads.
 *
 * The dot products run over contiguous rows: LHS rows [m][k] and RHS columns stored as rows
 * [n][k]. An operand stored the other way (LHS with adj_x, RHS without adj_y) is transposed
 * into the scratch buffer per matrix first, as TFLite Micro transposes it; a constant RHS is
 * stored transposed by the compiler (rhs_t) and read by the _c entry points.
 *
 * Scratch (16-byte aligned, in this order): int8 and a run-time RHS: N int32 column
 * corrections; then M * K elements if lhs_kmajor; then N * K elements if the RHS is a run-time
 * tensor and rhs_kmajor. */
typedef struct {
    int32_t batches;           /* output matrices */
    int32_t rows, cols, depth; /* M, N, K */
    int32_t lhs_kmajor;        /* 1: LHS stored [K][M] (adj_x) */
    int32_t rhs_kmajor;        /* 1: RHS stored [K][N] (no adj_y); a constant rhs_t is [N][K] */
    /* (ec_common.h: references, as the arrays below) */
    EC_CREF(int32_t) lhs_offsets;      /* per output matrix, element offset of its LHS matrix */
    EC_CREF(int32_t) rhs_offsets;      /* per output matrix, element offset of its RHS matrix */
    int32_t lhs_zp, rhs_zp, output_zp; /* int8; 0 for int16 */
    int32_t multiplier, shift;
    int32_t act_min, act_max; /* the output type's range: BATCH_MATMUL fuses no activation */
    EC_CREF(int8_t) rhs_t;    /* _s8_c: the constant RHS, [matrix][N][K] (ec_common.h: a reference) */
    EC_CREF(int16_t) rhs_t16; /* _s16_c: the same, int16 */
    /* _s8_c: per RHS matrix and column, K * lhs_zp * rhs_zp - lhs_zp * sum_k R[k][n] (the zero
     * point terms of the column; row offset rhs_offsets[b] / K) */
    EC_CREF(int32_t) rhs_corr;
} ec_batch_matmul_params_t;

void ec_batch_matmul_s8(const ec_batch_matmul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output,
                        void *scratch);
void ec_batch_matmul_s8_c(const ec_batch_matmul_params_t *p, const int8_t *lhs, int8_t *output, void *scratch);
void ec_batch_matmul_s16(const ec_batch_matmul_params_t *p, const int16_t *lhs, const int16_t *rhs, int16_t *output,
                         void *scratch);
void ec_batch_matmul_s16_c(const ec_batch_matmul_params_t *p, const int16_t *lhs, int16_t *output, void *scratch);

#endif /* EC_BATCH_MATMUL_H */
