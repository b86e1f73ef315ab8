/* edgeconv C runtime: ADD and SUB, int8 and int16, with numpy-style broadcasting.
 *
 * Both follow TFLite Micro's quantized path (reference_integer_ops::AddFunc,
 * reference_ops::AddGeneralParamScale / BroadcastAdd6DSlow for int16, and
 * reference_ops::BroadcastQuantSubSlow): each input is offset, shifted left by left_shift,
 * rescaled to a common scale, summed (or subtracted) and rescaled to the output. The two ops
 * differ only in the sign of the second term and in how Prepare rounds the multipliers
 * (ADD in double, SUB in float), which the compiler has already done. int16 (16x8 models)
 * takes the same arithmetic with left_shift 15 (TFLite Micro's general-scale path, whatever
 * the AddOptions' pot_scale_int16 says).
 */
#ifndef EC_ADD_H
#define EC_ADD_H

#include "ec_common.h"

/* ec_mul.h opens its params with the same broadcast fields: each op keeps its own params type
 * and header. */
typedef struct {
    /* The loop nest over the output, outermost first, after the compiler merged contiguous
     * dimensions; unused leading entries are 1. Strides are in elements, 0 on a dimension an
     * input broadcasts along. The output is written contiguously. */
    int32_t out_dims[EC_MAX_DIMS];
    int32_t in0_strides[EC_MAX_DIMS];
    int32_t in1_strides[EC_MAX_DIMS];
    int32_t in0_offset, in1_offset;    /* -zero_point of each input */
    int32_t output_offset;             /* output zero point */
    int32_t left_shift;                /* 20 for int8, 15 for int16: headroom for the rescaling */
    int32_t in0_multiplier, in0_shift; /* Q31, shift <= 0 */
    int32_t in1_multiplier, in1_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
    /* Optional (both set or both NULL): for every int8 input value x (index x + 128), the
     * rescaled term of each input, MultiplyByQuantizedMultiplierSmallerThanOneExp(
     * (x + in_offset) * 2^left_shift, in_multiplier, in_shift), computed by the compiler with
     * TFLite's arithmetic; in1_table holds the negated term for SUB. Per element the kernel
     * then adds two table entries instead of running two requantizations. int8 only (the
     * int16 kernels ignore them: a table per 65,536 values would cost 256 KB). */
    EC_CREF(int32_t) in0_table; /* a reference to constants (ec_common.h) */
    EC_CREF(int32_t) in1_table;
} ec_add_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_add_s8(const ec_add_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out);
void ec_sub_s8(const ec_add_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out);
void ec_add_s16(const ec_add_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out);
void ec_sub_s16(const ec_add_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out);

#endif /* EC_ADD_H */
