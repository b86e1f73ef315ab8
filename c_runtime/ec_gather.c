/* edgeconv C runtime: GATHER (see ec_gather.h). */
#include <string.h>

#include "ec_gather.h"

#define EC_GATHER(NAME, T)                                                                     \
    void NAME(const ec_gather_params_t *p, const T *input, const int32_t *coords, T *output) { \
        int32_t b, o, c, j;                                                                    \
        for (b = 0; b < p->batch; ++b) {                                                       \
            const int32_t *index = coords + b * p->coords;                                     \
            for (o = 0; o < p->outer; ++o) {                                                   \
                const T *slice = input + (b * p->outer + o) * p->axis_size * p->inner;         \
                for (c = 0; c < p->coords; ++c) {                                              \
                    const int32_t k = index[c];                                                \
                    if (k >= 0 && k < p->axis_size) {                                          \
                        memcpy(output, slice + k * p->inner, (size_t)p->inner * sizeof(T));    \
                    } else {                                                                   \
                        for (j = 0; j < p->inner; ++j) {                                       \
                            output[j] = (T)p->fill;                                            \
                        }                                                                      \
                    }                                                                          \
                    output += p->inner;                                                        \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

EC_GATHER(ec_gather_s8, int8_t)
EC_GATHER(ec_gather_s16, int16_t)
EC_GATHER(ec_gather_s32, int32_t)
