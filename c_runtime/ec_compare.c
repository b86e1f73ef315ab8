/* edgeconv C runtime: the comparisons, bit-exact with TFLite Micro's ComparisonWithScaling
 * (int8) and TFLite's reference ComparisonImpl (int16, raw values).
 *
 * int8: each input's (x - zp) * 2^8 (|x - zp| <= 255: below 2^16) goes through
 * MultiplyByQuantizedMultiplierSmallerThanOneExp by the Q31 form of its own scale (< 1), then
 * the two int32 results are compared. The output is a C++ bool: one byte, 0 or 1. */
#include "ec_compare.h"
#include "ec_fixedpoint.h"

/* compare_s64 below is its 64-bit twin: kept apart so the int8/int16/int32 comparisons stay
 * 32-bit on 32-bit cores. */
static uint8_t compare(int32_t op, int32_t a, int32_t b) {
    switch (op) {
    case EC_CMP_EQUAL:
        return (uint8_t)(a == b);
    case EC_CMP_NOT_EQUAL:
        return (uint8_t)(a != b);
    case EC_CMP_GREATER:
        return (uint8_t)(a > b);
    case EC_CMP_GREATER_EQUAL:
        return (uint8_t)(a >= b);
    case EC_CMP_LESS:
        return (uint8_t)(a < b);
    default:
        return (uint8_t)(a <= b);
    }
}

void ec_compare_s8(const ec_compare_params_t *p, const int8_t *in0, const int8_t *in1, uint8_t *out) {
    /* The walk of EC_BROADCAST_EACH, written out: through the macro gcc schedules scale_up
     * differently on Cortex-M4 (same results, other object code). */
    const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];
    const int32_t step0 = p->in0_strides[EC_MAX_DIMS - 1];
    const int32_t step1 = p->in1_strides[EC_MAX_DIMS - 1];
    const int32_t scale_up = (int32_t)1 << p->left_shift;
    ec_broadcast_iter_t it;
    int32_t n, i;
    ec_broadcast_begin(p->out_dims, &it);
    for (n = 0; n < it.runs; ++n) {
        for (i = 0; i < inner; ++i) {
            const int32_t a = ec_requantize_lt1((in0[it.off0 + i * step0] + p->in0_offset) * scale_up,
                                                p->in0_multiplier, (int)p->in0_shift);
            const int32_t b = ec_requantize_lt1((in1[it.off1 + i * step1] + p->in1_offset) * scale_up,
                                                p->in1_multiplier, (int)p->in1_shift);
            *out++ = compare(p->op, a, b);
        }
        ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
    }
}

/* The raw comparisons, one broadcast walk per type; compare_s64 keeps 64-bit values whole. */
/* The int64 twin of compare() above: kept apart so the narrower types do not pay for 64-bit
 * comparisons. */
static uint8_t compare_s64(int32_t op, int64_t a, int64_t b) {
    switch (op) {
    case EC_CMP_EQUAL:
        return (uint8_t)(a == b);
    case EC_CMP_NOT_EQUAL:
        return (uint8_t)(a != b);
    case EC_CMP_GREATER:
        return (uint8_t)(a > b);
    case EC_CMP_GREATER_EQUAL:
        return (uint8_t)(a >= b);
    case EC_CMP_LESS:
        return (uint8_t)(a < b);
    default:
        return (uint8_t)(a <= b);
    }
}

#define EC_CMP_RAW_DEFINE(name, type, cmp)                                                    \
    void name(const ec_compare_params_t *p, const type *in0, const type *in1, uint8_t *out) { \
        EC_BROADCAST_EACH(p, i0, i1, *out++ = cmp(p->op, in0[i0], in1[i1]););                 \
    }

EC_CMP_RAW_DEFINE(ec_compare_s16, int16_t, compare)
EC_CMP_RAW_DEFINE(ec_compare_s32, int32_t, compare)
EC_CMP_RAW_DEFINE(ec_compare_s64, int64_t, compare_s64)
