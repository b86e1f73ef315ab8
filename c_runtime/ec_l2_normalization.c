/* edgeconv C runtime: L2_NORMALIZATION for int8, bit-exact with TFLite Micro's
 * reference_integer_ops::L2Normalization: per row, the int32 sum of squares of x - zp, its
 * inverse square root as GetInvSqrtQuantizedMultiplierExp's (multiplier, left shift), and
 * each x - zp multiplied by it with the output's 7 fractional bits added to the shift.
 *
 * Ranges: the lowering proves depth * max|x - zp|^2 <= INT32_MAX, so the sum does not
 * overflow (TFLite's would). The inverse square root's shift is in [-12, 0] (0 for sums below
 * 128, -12 near 2^31), so the final shift is in [-5, 7] and |x - zp| <= 255 shifted left by at
 * most 7 stays far inside int32. */
#include "ec_l2_normalization.h"
#include "ec_fixedpoint.h"

void ec_l2_normalization_s8(const ec_l2_normalization_params_t *p, const int8_t *input, int8_t *output) {
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = input + r * p->depth;
        int8_t *out = output + r * p->depth;
        int32_t acc = 0;
        int32_t multiplier;
        int shift;
        for (c = 0; c < p->depth; ++c) {
            const int32_t v = (int32_t)x[c] - p->input_zp;
            acc += v * v;
        }
        ec_inv_sqrt_quantized_multiplier_exp(acc, -1, &multiplier, &shift);
        for (c = 0; c < p->depth; ++c) {
            const int32_t v = (int32_t)x[c] - p->input_zp;
            out[c] = (int8_t)ec_clamp_i32(ec_requantize(v, multiplier, shift + 7), -128, 127);
        }
    }
}
