/* edgeconv C runtime: REDUCE_MAX / REDUCE_MIN, bit-exact with TFLite's ReduceGeneric.
 *
 * Every output starts at the type's lowest (max) or highest (min) value, as TFLite's
 * InitTensorDataForReduce sets it (an empty window keeps it); then the input is walked in
 * memory order and each element is folded into its output. The walk is MEAN's too
 * (EC_REDUCE_EACH, ec_common.h). Only comparisons: no arithmetic on values. Offsets are bounded by the
 * output's element count (< 2^28, the reader's limit), so no int32 index overflows. */
#include "ec_reduce.h"

/* is_max: 1 for REDUCE_MAX, 0 for REDUCE_MIN. reduce_s16 below is its int16 twin (int16
 * bounds): kept apart so a firmware links only the type it uses. */
static void reduce_s8(const ec_reduce_params_t *p, const int8_t *input, int8_t *output, int is_max) {
    int32_t o;
    const int8_t init = is_max ? (int8_t)-128 : (int8_t)127;
    for (o = 0; o < p->num_outputs; ++o) {
        output[o] = init;
    }
    EC_REDUCE_EACH(p, int8_t, output, cur, {
        const int8_t v = *input++;
        if (is_max ? (v > *cur) : (v < *cur)) {
            *cur = v;
        }
    });
}

/* The int16 twin of reduce_s8 above: kept apart so a firmware links only the type it uses. */
static void reduce_s16(const ec_reduce_params_t *p, const int16_t *input, int16_t *output, int is_max) {
    int32_t o;
    const int16_t init = is_max ? (int16_t)-32768 : (int16_t)32767;
    for (o = 0; o < p->num_outputs; ++o) {
        output[o] = init;
    }
    EC_REDUCE_EACH(p, int16_t, output, cur, {
        const int16_t v = *input++;
        if (is_max ? (v > *cur) : (v < *cur)) {
            *cur = v;
        }
    });
}

void ec_reduce_max_s8(const ec_reduce_params_t *p, const int8_t *input, int8_t *output) {
    reduce_s8(p, input, output, 1);
}

void ec_reduce_min_s8(const ec_reduce_params_t *p, const int8_t *input, int8_t *output) {
    reduce_s8(p, input, output, 0);
}

void ec_reduce_max_s16(const ec_reduce_params_t *p, const int16_t *input, int16_t *output) {
    reduce_s16(p, input, output, 1);
}

void ec_reduce_min_s16(const ec_reduce_params_t *p, const int16_t *input, int16_t *output) {
    reduce_s16(p, input, output, 0);
}
