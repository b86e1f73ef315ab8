/* edgeconv C runtime: CONCATENATION/PACK and SPLIT/SPLIT_V/UNPACK, the same copy order as
 * TFLite's reference_ops::Concatenation and TFLite Micro's split.cc. The entry points differ
 * only in the element type and are written out by one macro each. */
#include <string.h>

#include "ec_concatenation.h"

#define EC_CONCATENATION(NAME, T)                                                      \
    void NAME(const ec_concatenation_params_t *p, const T *const *inputs, T *output) { \
        int32_t k, i;                                                                  \
        for (k = 0; k < p->outer; ++k) {                                               \
            for (i = 0; i < p->num_inputs; ++i) {                                      \
                const int32_t n = EC_C_S32(p->copy_sizes, i);                          \
                memcpy(output, inputs[i] + k * n, (size_t)n * sizeof(T));              \
                output += n;                                                           \
            }                                                                          \
        }                                                                              \
    }

#define EC_SPLIT(NAME, T)                                                      \
    void NAME(const ec_split_params_t *p, const T *input, T *const *outputs) { \
        int32_t k, i;                                                          \
        for (k = 0; k < p->outer; ++k) {                                       \
            for (i = 0; i < p->num_outputs; ++i) {                             \
                const int32_t n = EC_C_S32(p->copy_sizes, i);                  \
                memcpy(outputs[i] + k * n, input, (size_t)n * sizeof(T));      \
                input += n;                                                    \
            }                                                                  \
        }                                                                      \
    }

EC_CONCATENATION(ec_concatenation_s8, int8_t)
EC_CONCATENATION(ec_concatenation_s16, int16_t)
EC_CONCATENATION(ec_concatenation_s32, int32_t)

EC_SPLIT(ec_split_s8, int8_t)
EC_SPLIT(ec_split_s16, int16_t)
EC_SPLIT(ec_split_s32, int32_t)
