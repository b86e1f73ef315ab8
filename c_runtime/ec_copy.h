/* edgeconv C runtime: data movement with every index resolved at compile time.
 *
 * Two kernels, each with one entry point per element size (s8: int8, s16: int16, s32: int32):
 *
 * - strided copy: the output is written in order; output element (i0, ..., i_{r-1}) reads
 *   input[in_offset + sum_d i_d * in_strides[d]]. A stride of 0 repeats (BROADCAST_TO, TILE),
 *   a negative stride walks backwards (STRIDED_SLICE), permuted strides transpose. TRANSPOSE,
 *   STRIDED_SLICE, SLICE, TILE, BROADCAST_TO, DEPTH_TO_SPACE and SPACE_TO_DEPTH are lowered
 *   onto it (edgeconv/lowering/ops/copy.py merges dimensions first, so the innermost run is as long as
 *   it can be, and a memcpy when it is contiguous).
 * - indexed copy: the same walk, but each dimension's input offset comes from a table
 *   (MIRROR_PAD's reflected indices).
 *
 * Every offset the kernels form is an element index into the input (the lowering proves it),
 * so no pointer ever leaves its array.
 */
#ifndef EC_COPY_H
#define EC_COPY_H

#include "ec_common.h"

#define EC_COPY_MAX_DIMS 8

typedef struct {
    int32_t rank;                         /* dimensions used, 1..EC_COPY_MAX_DIMS */
    int32_t out_dims[EC_COPY_MAX_DIMS];   /* the output walk, outermost first (first rank used) */
    int32_t in_strides[EC_COPY_MAX_DIMS]; /* input elements per step along each output dim */
    int32_t in_offset;                    /* input element read by output element 0 */
} ec_copy_params_t;

typedef struct {
    int32_t rank;                       /* dimensions used, 1..EC_COPY_MAX_DIMS */
    int32_t out_dims[EC_COPY_MAX_DIMS]; /* outermost first (first rank used) */
    /* For dimension 0, then 1, ...: out_dims[d] input element offsets (index * stride). */
    EC_CREF(int32_t) offsets; /* a reference to constants (ec_common.h) */
} ec_copy_indexed_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_copy_s8(const ec_copy_params_t *p, const int8_t *input, int8_t *output);
void ec_copy_s16(const ec_copy_params_t *p, const int16_t *input, int16_t *output);
void ec_copy_s32(const ec_copy_params_t *p, const int32_t *input, int32_t *output);

void ec_copy_indexed_s8(const ec_copy_indexed_params_t *p, const int8_t *input, int8_t *output);
void ec_copy_indexed_s16(const ec_copy_indexed_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_COPY_H */
