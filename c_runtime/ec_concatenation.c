/* edgeconv C runtime: CONCATENATION for int8, the same copy order as TFLite's
 * reference_ops::Concatenation. */
#include "ec_concatenation.h"

void ec_concatenation_s8(const ec_concatenation_params_t *p, const int8_t *const *inputs,
                         int8_t *output) {
    int32_t k, i, j;
    for (k = 0; k < p->outer; ++k) {
        for (i = 0; i < p->num_inputs; ++i) {
            const int32_t n = p->copy_sizes[i];
            const int8_t *src = inputs[i] + k * n;
            for (j = 0; j < n; ++j) {
                output[j] = src[j];
            }
            output += n;
        }
    }
}
