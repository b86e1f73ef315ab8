/* edgeconv C runtime: MAXIMUM and MINIMUM for int8 and int16, bit-exact with TFLite Micro's
 * MaximumMinimumBroadcastSlow: an element-wise comparison of the raw values. One loop per
 * type and op (EC_MAX_MIN_DEFINE), so a firmware links only those its model uses. */
#include "ec_maximum_minimum.h"

/* TFLite's MaximumOp is `el1 > el2 ? el1 : el2`, MinimumOp `el1 < el2 ? el1 : el2`. */
#define EC_MAX_MIN_DEFINE(name, type, cmp)                                                         \
    void name(const ec_maximum_minimum_params_t *p, const type *in0, const type *in1, type *out) { \
        EC_BROADCAST_EACH(p, i0, i1, {                                                             \
            const type a = in0[i0];                                                                \
            const type b = in1[i1];                                                                \
            *out++ = a cmp b ? a : b;                                                              \
        });                                                                                        \
    }

EC_MAX_MIN_DEFINE(ec_maximum_s8, int8_t, >)
EC_MAX_MIN_DEFINE(ec_minimum_s8, int8_t, <)
EC_MAX_MIN_DEFINE(ec_maximum_s16, int16_t, >)
EC_MAX_MIN_DEFINE(ec_minimum_s16, int16_t, <)
