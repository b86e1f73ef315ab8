/* edgeconv C runtime: int16 ABS and RSQRT, bit-exact with TFLite Micro's AbsEvalQuantized and
 * RsqrtEvalQuantized (elementwise.cc) for zero points 0.
 *
 * ABS: |x| is at most 32768; rescaled (ec_requantize, which wraps where TFLite's
 * x * (1 << shift) would overflow) or not, then clamped to int16.
 * RSQRT: x == 0 gives 32767; otherwise 1 / sqrt(x) as GetInvSqrtQuantizedMultiplierExp's
 * (multiplier, shift), made a value in Q20 by MultiplyByQuantizedMultiplier(1, m, shift + 20)
 * (shift + 20 is in [16, 20] for x in [1, 32767]: the Q20 value is at most 2^20), then
 * rescaled by the op's multiplier with shift - 20 (checked in [-31, 30] at compile time), plus
 * the output zero point (wrapping, as TFLite's int + does on its builds), clamped. TFLite Micro
 * stops with an error on a negative input; here it computes what the arithmetic gives for
 * x <= 1, as GetInvSqrtQuantizedMultiplierExp treats every such x as 1. */
#include "ec_elementwise_unary.h"
#include "ec_fixedpoint.h"

void ec_abs_s16(const ec_abs_params_t *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = input[i];
        const int32_t value = x < 0 ? -x : x;
        const int32_t y = p->needs_rescale ? ec_requantize(value, p->multiplier, (int)p->shift) : value;
        output[i] = (int16_t)ec_clamp_i32(y, -32768, 32767);
    }
}

void ec_rsqrt_s16(const ec_rsqrt_params_t *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t value = input[i];
        int32_t inv_multiplier;
        int inv_shift;
        int32_t q20, y;
        if (value == 0) {
            output[i] = 32767; /* TFLite: "any value close to 0 represents the max output value" */
            continue;
        }
        ec_inv_sqrt_quantized_multiplier_exp(value, -1, &inv_multiplier, &inv_shift);
        q20 = ec_requantize(1, inv_multiplier, inv_shift + 20);
        y = ec_add_wrapping(ec_requantize(q20, p->multiplier, (int)p->shift), p->output_zp);
        output[i] = (int16_t)ec_clamp_i32(y, -32768, 32767);
    }
}
