/* edgeconv C runtime: EQUAL, NOT_EQUAL, GREATER, GREATER_EQUAL, LESS, LESS_EQUAL on int8 (both
 * inputs rescaled as TFLite does) and int16, int32, int64 (raw values), with broadcasting; bool out (0/1). */
#ifndef EC_COMPARE_H
#define EC_COMPARE_H

#include "ec_common.h"

enum { EC_CMP_EQUAL = 0, EC_CMP_NOT_EQUAL, EC_CMP_GREATER, EC_CMP_GREATER_EQUAL, EC_CMP_LESS, EC_CMP_LESS_EQUAL };

typedef struct {
    /* The broadcast loop nest (ec_common.h ec_broadcast_iter_t). */
    int32_t out_dims[EC_MAX_DIMS];
    int32_t in0_strides[EC_MAX_DIMS];
    int32_t in1_strides[EC_MAX_DIMS];
    int32_t op; /* EC_CMP_* */
    /* int8: TFLite's ComparisonParams (offsets are -zero points, shifts <= 0); unused by the raw (s16, s32, s64)
     * comparisons. */
    int32_t in0_offset;
    int32_t in1_offset;
    int32_t left_shift;
    int32_t in0_multiplier;
    int32_t in0_shift;
    int32_t in1_multiplier;
    int32_t in1_shift;
} ec_compare_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_compare_s8(const ec_compare_params_t *p, const int8_t *in0, const int8_t *in1, uint8_t *out);
void ec_compare_s16(const ec_compare_params_t *p, const int16_t *in0, const int16_t *in1, uint8_t *out);
void ec_compare_s32(const ec_compare_params_t *p, const int32_t *in0, const int32_t *in1, uint8_t *out);
void ec_compare_s64(const ec_compare_params_t *p, const int64_t *in0, const int64_t *in1, uint8_t *out);

#endif /* EC_COMPARE_H */
