/* edgeconv C runtime: MAXIMUM and MINIMUM for int8 and int16, bit-exact with TFLite Micro's
 * MaximumMinimumBroadcastSlow: an element-wise comparison of the raw values. One loop per
 * type and op (EC_MAX_MIN_DEFINE), so a firmware links only those its model uses. */
#include "ec_maximum_minimum.h"

/* TFLite's MaximumOp is `el1 > el2 ? el1 : el2`, MinimumOp `el1 < el2 ? el1 : el2`. */
#define EC_MAX_MIN_DEFINE(name, type, cmp)                                                         \
    void name(const ec_maximum_minimum_params_t *p, const type *in0, const type *in1, type *out) { \
        const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];                                        \
        const int32_t step0 = p->in0_strides[EC_MAX_DIMS - 1];                                     \
        const int32_t step1 = p->in1_strides[EC_MAX_DIMS - 1];                                     \
        ec_broadcast_iter_t it;                                                                    \
        int32_t n, i;                                                                              \
        ec_broadcast_begin(p->out_dims, &it);                                                      \
        for (n = 0; n < it.runs; ++n) {                                                            \
            for (i = 0; i < inner; ++i) {                                                          \
                const type a = in0[it.off0 + i * step0];                                           \
                const type b = in1[it.off1 + i * step1];                                           \
                *out++ = a cmp b ? a : b;                                                          \
            }                                                                                      \
            ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);                   \
        }                                                                                          \
    }

EC_MAX_MIN_DEFINE(ec_maximum_s8, int8_t, >)
EC_MAX_MIN_DEFINE(ec_minimum_s8, int8_t, <)
EC_MAX_MIN_DEFINE(ec_maximum_s16, int16_t, >)
EC_MAX_MIN_DEFINE(ec_minimum_s16, int16_t, <)
