/* edgeconv C runtime: MEAN and SUM for int8 and int16, bit-exact with TFLite Micro's
 * QuantizedMeanOrSum.
 *
 * TFLite Micro sums the raw values of each output's window into an int32, subtracts
 * input_zp * count once, and requantizes with a multiplier that, for MEAN, already contains
 * 1/count (computed at compile time, see edgeconv/lowering/ops/mean.py). No float, no division at run
 * time. SUM runs the same code with the plain in_scale / out_scale multiplier.
 *
 * Ranges: a window may hold up to 2^28 values (the reader's tensor limit), so its int32 sum
 * can leave int32 (beyond 2^24 int8 or 2^16 int16 values); TFLite's int32 += wraps there on
 * its builds, and here the sum wraps through uint32_t, which is defined and equal.
 * sum - input_zp * count is formed in 64 bits (|input_zp * count| < 2^44) and narrowed as
 * TFLite's static_cast<int32_t> does. The multiplier is below 2^31 and the shift in
 * [-31, 30] (mean.py checks both), so ec_requantize's shifts are in range. TFLite adds the
 * output zero point to the requantized int32 with a plain (wrapping on its builds) +; so does
 * ec_add_wrapping, before the clamp to the output type.
 */
#include <string.h>

#include "ec_mean.h"
#include "ec_fixedpoint.h"

/* Walk the input in memory order (EC_REDUCE_EACH); each element lands in the accumulator of
 * its output. One walk per input type. */
static void accumulate_s8(const ec_mean_params_t *p, const int8_t *input, int32_t *acc) {
    /* TFLite adds with expected (wrapping) overflow. */
    EC_REDUCE_EACH(p, int32_t, acc, a, *a = ec_add_wrapping(*a, *input++););
}

static void accumulate_s16(const ec_mean_params_t *p, const int16_t *input, int32_t *acc) {
    EC_REDUCE_EACH(p, int32_t, acc, a, *a = ec_add_wrapping(*a, *input++););
}

/* The requantized output o before the clamp: TFLite's
 * MultiplyByQuantizedMultiplier(static_cast<int32_t>(sum - input_zp * count)) + output_zp. */
static int32_t mean_output(const ec_mean_params_t *p, int32_t sum) {
    /* sum is the wrapped int32 sum; |input_zp * count| <= 2^15 * 2^28, so the difference is
     * exact in 64 bits and then narrowed modulo 2^32, as TFLite's static_cast<int32_t> of its
     * int64_t expression is. */
    const int64_t wide = (int64_t)sum - (int64_t)p->input_zp * (int64_t)p->count;
    const int32_t shifted_sum = (int32_t)(uint32_t)(uint64_t)wide;
    return ec_add_wrapping(ec_requantize(shifted_sum, p->multiplier, (int)p->shift), p->output_zp);
}

/* ec_mean_s16 below is its int16 twin (int16 clamp): kept apart so a firmware links only the
 * type it uses. */
void ec_mean_s8(const ec_mean_params_t *p, const int8_t *input, int8_t *output, void *scratch) {
    int32_t *acc = (int32_t *)scratch;
    int32_t o;
    memset(acc, 0, (size_t)p->num_outputs * sizeof(int32_t));
    if (p->count == 0) {
        /* An empty input: TFLite leaves the zero-initialized output. */
        memset(output, 0, (size_t)p->num_outputs * sizeof(int8_t));
        return;
    }
    accumulate_s8(p, input, acc);
    for (o = 0; o < p->num_outputs; ++o) {
        output[o] = (int8_t)ec_clamp_i32(mean_output(p, acc[o]), -128, 127);
    }
}

/* The int16 twin of ec_mean_s8 above: kept apart so a firmware links only the type it uses. */
void ec_mean_s16(const ec_mean_params_t *p, const int16_t *input, int16_t *output, void *scratch) {
    int32_t *acc = (int32_t *)scratch;
    int32_t o;
    memset(acc, 0, (size_t)p->num_outputs * sizeof(int32_t));
    if (p->count == 0) {
        memset(output, 0, (size_t)p->num_outputs * sizeof(int16_t));
        return;
    }
    accumulate_s16(p, input, acc);
    for (o = 0; o < p->num_outputs; ++o) {
        output[o] = (int16_t)ec_clamp_i32(mean_output(p, acc[o]), -32768, 32767);
    }
}
