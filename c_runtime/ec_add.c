/* edgeconv C runtime: ADD and SUB for int8, bit-exact with TFLite Micro.
 *
 * Per element (x0, x1 raw int8):
 *   v_i   = (x_i + in_i_offset) * 2^left_shift                 |v_i| < 2^28, no overflow
 *   s_i   = MultiplyByQuantizedMultiplierSmallerThanOneExp(v_i, in_i_multiplier, in_i_shift)
 *   raw   = s0 + s1  (ADD)  or  s0 - s1  (SUB)                 |raw| < 2^29
 *   out   = clamp(MBQMSmallerThanOneExp(raw, output_multiplier, output_shift) + output_offset)
 * TFLite takes the same arithmetic on its broadcast and non-broadcast paths, so one loop
 * serves both.
 */
#include "ec_add.h"

#include "ec_fixedpoint.h"

static int8_t add_one(const ec_add_params_t *p, int32_t x0, int32_t x1, int subtract) {
    /* Multiplication, not <<: a left shift of a negative value is undefined in C99. */
    const int32_t shifted0 = (x0 + p->in0_offset) * ((int32_t)1 << p->left_shift);
    const int32_t shifted1 = (x1 + p->in1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t scaled0 = ec_requantize_lt1(shifted0, p->in0_multiplier, p->in0_shift);
    const int32_t scaled1 = ec_requantize_lt1(shifted1, p->in1_multiplier, p->in1_shift);
    const int32_t raw = subtract ? scaled0 - scaled1 : scaled0 + scaled1;
    const int32_t result =
        ec_requantize_lt1(raw, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ec_clamp_i32(result, p->act_min, p->act_max);
}

static void add_sub(const ec_add_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out,
                    int subtract) {
    const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];
    const int32_t step0 = p->in0_strides[EC_MAX_DIMS - 1];
    const int32_t step1 = p->in1_strides[EC_MAX_DIMS - 1];
    ec_broadcast_iter_t it;
    int32_t n, i;
    ec_broadcast_begin(p->out_dims, &it);
    for (n = 0; n < it.runs; ++n) {
        for (i = 0; i < inner; ++i) {
            *out++ = add_one(p, in0[it.off0 + i * step0], in1[it.off1 + i * step1], subtract);
        }
        ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
    }
}

void ec_add_s8(const ec_add_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out) {
    add_sub(p, in0, in1, out, 0);
}

void ec_sub_s8(const ec_add_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out) {
    add_sub(p, in0, in1, out, 1);
}
