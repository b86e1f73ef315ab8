/* edgeconv C runtime: DIV, int8 and int32, with numpy-style broadcasting. */
#ifndef EC_DIV_H
#define EC_DIV_H

#include "ec_common.h"

typedef struct {
    /* The loop nest over the output, outermost first, after the compiler merged contiguous
     * dimensions; unused leading entries are 1. Strides are in elements, 0 on a dimension an
     * input broadcasts along. The output is written contiguously. */
    int32_t out_dims[EC_MAX_DIMS];
    int32_t in0_strides[EC_MAX_DIMS];
    int32_t in1_strides[EC_MAX_DIMS];
    int32_t in0_offset, in1_offset; /* -zero_point of the numerator and of the divisor */
    int32_t output_offset;          /* output zero point */
    int32_t output_multiplier;      /* in0_scale / (in1_scale * out_scale), Q31, in [2^30, 2^31) */
    int32_t act_min, act_max;
    /* Per divisor value (indexed by its bits as uint8_t, TFLite's table order), made at compile
     * time: TFLite's GetReciprocal(|d|, 31) of d = value - zero point (Q0; d = 0 included), and
     * recip_exp = num_bits_over_unit - output_shift, so that the final rounding exponent is
     * CountLeadingSignBits(numerator) + recip_exp (the compiler proves it is in [0, 31]). */
    EC_CREF(int32_t) recip; /* a reference to constants (ec_common.h) */
    EC_CREF(int8_t) recip_exp;
} ec_div_params_t;

/* int32 (unquantized, TFLite Micro's EvalDiv<int32_t>): truncating division, then the fused
 * activation's clamp. */
typedef struct {
    int32_t out_dims[EC_MAX_DIMS];
    int32_t in0_strides[EC_MAX_DIMS];
    int32_t in1_strides[EC_MAX_DIMS];
    int32_t act_min, act_max;
} ec_div_s32_params_t;

void ec_div_s8(const ec_div_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out);
void ec_div_s32(const ec_div_s32_params_t *p, const int32_t *in0, const int32_t *in1, int32_t *out);

#endif /* EC_DIV_H */
