/* edgeconv C runtime: CONCATENATION, int8.
 *
 * TFLite Micro (and TFLite) require every int8 input to share the output's scale and zero
 * point, so concatenation is a pure copy: for each slice before the axis, each input
 * contributes one contiguous run of copy_sizes[i] values, in input order.
 */
#ifndef EC_CONCATENATION_H
#define EC_CONCATENATION_H

#include "ec_common.h"

typedef struct {
    int32_t num_inputs;
    int32_t outer;              /* product of the output dimensions before the axis */
    const int32_t *copy_sizes;  /* per input: its axis dimension * product of those after */
} ec_concatenation_params_t;

void ec_concatenation_s8(const ec_concatenation_params_t *p, const int8_t *const *inputs,
                         int8_t *output);

#endif /* EC_CONCATENATION_H */
