/* edgeconv C runtime: ARG_MAX / ARG_MIN, bit-exact with TFLite's reference ArgMinMax: for each
 * (outer, inner) position, the index along the axis of the first value that no later value
 * beats strictly (ties keep the first index). Indices and offsets are below the input's
 * element count (< 2^28, the reader's limit). */
#include "ec_arg_min_max.h"

/* The index of the extreme along the axis at (o, i); is_max picks > or <. */
static int32_t arg_index(const ec_arg_min_max_params_t *p, const int8_t *input, int32_t o, int32_t i, int is_max) {
    const int8_t *base = input + o * p->axis_size * p->inner + i;
    int8_t best = base[0];
    int32_t best_index = 0;
    int32_t k;
    for (k = 1; k < p->axis_size; ++k) {
        const int8_t v = base[k * p->inner];
        if (is_max ? (v > best) : (v < best)) {
            best = v;
            best_index = k;
        }
    }
    return best_index;
}

#define EC_ARG_DEFINE(name, out_type, is_max)                                            \
    void name(const ec_arg_min_max_params_t *p, const int8_t *input, out_type *output) { \
        int32_t o, i;                                                                    \
        for (o = 0; o < p->outer; ++o) {                                                 \
            for (i = 0; i < p->inner; ++i) {                                             \
                *output++ = (out_type)arg_index(p, input, o, i, is_max);                 \
            }                                                                            \
        }                                                                                \
    }

EC_ARG_DEFINE(ec_arg_max_s8_s32, int32_t, 1)
EC_ARG_DEFINE(ec_arg_min_s8_s32, int32_t, 0)
EC_ARG_DEFINE(ec_arg_max_s8_s64, int64_t, 1)
EC_ARG_DEFINE(ec_arg_min_s8_s64, int64_t, 0)
