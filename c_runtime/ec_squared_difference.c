/* edgeconv C runtime: SQUARED_DIFFERENCE, bit-exact with TFLite Micro's quantized
 * SquaredDifference (squared_difference.cc).
 *
 * Per element: each input's (x - zp) * 2^left_shift is rescaled to the common scale
 * (MultiplyByQuantizedMultiplierSmallerThanOneExp), the difference squared and requantized
 * (MultiplyByQuantizedMultiplier), the zero point added and the result clamped to the type.
 * Ranges (proved in edgeconv/lowering/ops/squared_difference.py): the shifted inputs are below 2^16 in
 * magnitude, the rescaled difference at most 2^15, its square at most 2^30; the zero point is
 * added wrapping, as TFLite's int32 + does. */
#include "ec_squared_difference.h"
#include "ec_fixedpoint.h"

static int32_t squared_difference(const ec_squared_difference_params_t *p, int32_t a, int32_t b) {
    const int32_t scaled0 =
        ec_requantize_lt1((a + p->in0_offset) * ((int32_t)1 << p->left_shift), p->in0_multiplier, (int)p->in0_shift);
    const int32_t scaled1 =
        ec_requantize_lt1((b + p->in1_offset) * ((int32_t)1 << p->left_shift), p->in1_multiplier, (int)p->in1_shift);
    const int32_t diff = scaled0 - scaled1;
    return ec_add_wrapping(ec_requantize(diff * diff, p->output_multiplier, (int)p->output_shift), p->output_offset);
}

/* One broadcast walk per type (ec_broadcast_iter_t, ec_common.h). */
#define EC_SQDIFF_DEFINE(name, type, lo, hi)                                                          \
    void name(const ec_squared_difference_params_t *p, const type *in0, const type *in1, type *out) { \
        EC_BROADCAST_EACH(p, i0, i1, {                                                                \
            const int32_t v = squared_difference(p, in0[i0], in1[i1]);                                \
            *out++ = (type)ec_clamp_i32(v, lo, hi);                                                   \
        });                                                                                           \
    }

EC_SQDIFF_DEFINE(ec_squared_difference_s8, int8_t, -128, 127)
EC_SQDIFF_DEFINE(ec_squared_difference_s16, int16_t, -32768, 32767)
