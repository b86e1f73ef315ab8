/* edgeconv C runtime: MUL for int8, bit-exact with TFLite Micro's reference_integer_ops::Mul
 * and BroadcastMul6DSlow (the same arithmetic on both paths):
 *   out = clamp(MultiplyByQuantizedMultiplier((x0 - zp0) * (x1 - zp1)) + output_zp)
 * The product is at most 256 * 256 in magnitude, so it never overflows int32.
 */
#include "ec_mul.h"

#include "ec_fixedpoint.h"

void ec_mul_s8(const ec_mul_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out) {
    /* Odometer over the outer EC_MAX_DIMS - 1 dimensions; offsets are integers so that no
     * pointer ever steps outside its array. */
    enum { INNER = EC_MAX_DIMS - 1 };
    const int32_t inner = p->out_dims[INNER];
    const int32_t step0 = p->in0_strides[INNER];
    const int32_t step1 = p->in1_strides[INNER];
    int32_t idx[EC_MAX_DIMS];
    int32_t outer = 1;
    int32_t off0 = 0, off1 = 0;
    int32_t n, i;
    int d;
    for (d = 0; d < INNER; ++d) {
        idx[d] = 0;
        outer *= p->out_dims[d];
    }
    for (n = 0; n < outer; ++n) {
        for (i = 0; i < inner; ++i) {
            const int32_t a = in0[off0 + i * step0] + p->in0_offset;
            const int32_t b = in1[off1 + i * step1] + p->in1_offset;
            const int32_t result =
                ec_requantize(a * b, p->output_multiplier, p->output_shift) + p->output_offset;
            *out++ = (int8_t)ec_clamp_i32(result, p->act_min, p->act_max);
        }
        for (d = INNER - 1; d >= 0; --d) {
            off0 += p->in0_strides[d];
            off1 += p->in1_strides[d];
            if (++idx[d] < p->out_dims[d]) {
                break;
            }
            idx[d] = 0;
            off0 -= p->in0_strides[d] * p->out_dims[d];
            off1 -= p->in1_strides[d] * p->out_dims[d];
        }
    }
}
