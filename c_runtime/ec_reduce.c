/* edgeconv C runtime: REDUCE_MAX / REDUCE_MIN, bit-exact with TFLite's ReduceGeneric.
 *
 * Every output starts at the type's lowest (max) or highest (min) value, as TFLite's
 * InitTensorDataForReduce sets it (an empty window keeps it); then the input is walked in
 * memory order and each element is folded into its output. The walk is the same loop nest as
 * MEAN's (ec_mean.c). Only comparisons: no arithmetic on values. Offsets are bounded by the
 * output's element count (< 2^28, the reader's limit), so no int32 index overflows. */
#include "ec_reduce.h"

/* is_max: 1 for REDUCE_MAX, 0 for REDUCE_MIN; one walk per element type. */
static void reduce_s8(const ec_reduce_params_t *p, const int8_t *input, int8_t *output, int is_max) {
    const int32_t *d = p->dims;
    const int32_t *s = p->out_strides;
    int32_t i0, i1, i2, i3, i4, i5, o;
    const int8_t init = is_max ? (int8_t)-128 : (int8_t)127;
    for (o = 0; o < p->num_outputs; ++o) {
        output[o] = init;
    }
    for (i0 = 0; i0 < d[0]; ++i0) {
        const int32_t o0 = i0 * s[0];
        for (i1 = 0; i1 < d[1]; ++i1) {
            const int32_t o1 = o0 + i1 * s[1];
            for (i2 = 0; i2 < d[2]; ++i2) {
                const int32_t o2 = o1 + i2 * s[2];
                for (i3 = 0; i3 < d[3]; ++i3) {
                    const int32_t o3 = o2 + i3 * s[3];
                    for (i4 = 0; i4 < d[4]; ++i4) {
                        int8_t *out = output + o3 + i4 * s[4];
                        for (i5 = 0; i5 < d[5]; ++i5) {
                            const int8_t v = *input++;
                            int8_t *cur = out + i5 * s[5];
                            if (is_max ? (v > *cur) : (v < *cur)) {
                                *cur = v;
                            }
                        }
                    }
                }
            }
        }
    }
}

static void reduce_s16(const ec_reduce_params_t *p, const int16_t *input, int16_t *output, int is_max) {
    const int32_t *d = p->dims;
    const int32_t *s = p->out_strides;
    int32_t i0, i1, i2, i3, i4, i5, o;
    const int16_t init = is_max ? (int16_t)-32768 : (int16_t)32767;
    for (o = 0; o < p->num_outputs; ++o) {
        output[o] = init;
    }
    for (i0 = 0; i0 < d[0]; ++i0) {
        const int32_t o0 = i0 * s[0];
        for (i1 = 0; i1 < d[1]; ++i1) {
            const int32_t o1 = o0 + i1 * s[1];
            for (i2 = 0; i2 < d[2]; ++i2) {
                const int32_t o2 = o1 + i2 * s[2];
                for (i3 = 0; i3 < d[3]; ++i3) {
                    const int32_t o3 = o2 + i3 * s[3];
                    for (i4 = 0; i4 < d[4]; ++i4) {
                        int16_t *out = output + o3 + i4 * s[4];
                        for (i5 = 0; i5 < d[5]; ++i5) {
                            const int16_t v = *input++;
                            int16_t *cur = out + i5 * s[5];
                            if (is_max ? (v > *cur) : (v < *cur)) {
                                *cur = v;
                            }
                        }
                    }
                }
            }
        }
    }
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
