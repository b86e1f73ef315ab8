/* edgeconv C runtime: MUL for int8, bit-exact with TFLite Micro's reference_integer_ops::Mul
 * and BroadcastMul6DSlow (the same arithmetic on both paths):
 *   out = clamp(MultiplyByQuantizedMultiplier((x0 - zp0) * (x1 - zp1)) + output_zp)
 * The product is at most 256 * 256 in magnitude, so it never overflows int32. The rescaled
 * value may be anywhere in int32 (a left shift of up to 30 bits, wrapping as TFLite's does),
 * so adding the zero point wraps too instead of overflowing; the clamp follows.
 */
#include "ec_mul.h"

#include "ec_fixedpoint.h"

void ec_mul_s8(const ec_mul_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out) {
    const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];
    const int32_t step0 = p->in0_strides[EC_MAX_DIMS - 1];
    const int32_t step1 = p->in1_strides[EC_MAX_DIMS - 1];
    ec_broadcast_iter_t it;
    int32_t n, i;
    ec_broadcast_begin(p->out_dims, &it);
    for (n = 0; n < it.runs; ++n) {
        for (i = 0; i < inner; ++i) {
            const int32_t a = in0[it.off0 + i * step0] + p->in0_offset;
            const int32_t b = in1[it.off1 + i * step1] + p->in1_offset;
            const int32_t result = ec_add_wrapping(
                ec_requantize(a * b, p->output_multiplier, p->output_shift), p->output_offset);
            *out++ = (int8_t)ec_clamp_i32(result, p->act_min, p->act_max);
        }
        ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
    }
}
