/* edgeconv C runtime: MAXIMUM and MINIMUM for int8, bit-exact with TFLite Micro's
 * MaximumMinimumBroadcastSlow: an element-wise comparison of the raw values. */
#include "ec_maximum_minimum.h"

static void max_min(const ec_maximum_minimum_params_t *p, const int8_t *in0, const int8_t *in1,
                    int8_t *out, int maximum) {
    const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];
    const int32_t step0 = p->in0_strides[EC_MAX_DIMS - 1];
    const int32_t step1 = p->in1_strides[EC_MAX_DIMS - 1];
    ec_broadcast_iter_t it;
    int32_t n, i;
    ec_broadcast_begin(p->out_dims, &it);
    for (n = 0; n < it.runs; ++n) {
        for (i = 0; i < inner; ++i) {
            const int8_t a = in0[it.off0 + i * step0];
            const int8_t b = in1[it.off1 + i * step1];
            /* TFLite's MaximumOp is `el1 > el2 ? el1 : el2`, MinimumOp `el1 < el2 ? ...`. */
            *out++ = maximum ? (a > b ? a : b) : (a < b ? a : b);
        }
        ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
    }
}

void ec_maximum_s8(const ec_maximum_minimum_params_t *p, const int8_t *in0, const int8_t *in1,
                   int8_t *out) {
    max_min(p, in0, in1, out, 1);
}

void ec_minimum_s8(const ec_maximum_minimum_params_t *p, const int8_t *in0, const int8_t *in1,
                   int8_t *out) {
    max_min(p, in0, in1, out, 0);
}
