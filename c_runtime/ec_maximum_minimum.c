/* edgeconv C runtime: MAXIMUM and MINIMUM for int8, bit-exact with TFLite Micro's
 * MaximumMinimumBroadcastSlow: an element-wise comparison of the raw values. */
#include "ec_maximum_minimum.h"

static void max_min(const ec_maximum_minimum_params_t *p, const int8_t *in0, const int8_t *in1,
                    int8_t *out, int maximum) {
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
            const int8_t a = in0[off0 + i * step0];
            const int8_t b = in1[off1 + i * step1];
            /* TFLite's MaximumOp is `el1 > el2 ? el1 : el2`, MinimumOp `el1 < el2 ? ...`. */
            *out++ = maximum ? (a > b ? a : b) : (a < b ? a : b);
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

void ec_maximum_s8(const ec_maximum_minimum_params_t *p, const int8_t *in0, const int8_t *in1,
                   int8_t *out) {
    max_min(p, in0, in1, out, 1);
}

void ec_minimum_s8(const ec_maximum_minimum_params_t *p, const int8_t *in0, const int8_t *in1,
                   int8_t *out) {
    max_min(p, in0, in1, out, 0);
}
