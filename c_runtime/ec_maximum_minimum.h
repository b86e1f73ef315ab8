/* edgeconv C runtime: MAXIMUM and MINIMUM, int8 and int16, with numpy-style broadcasting.
 *
 * TFLite compares the raw values and never requantizes (the converter gives both inputs
 * and the output one scale and zero point), so neither do these kernels.
 */
#ifndef EC_MAXIMUM_MINIMUM_H
#define EC_MAXIMUM_MINIMUM_H

#include "ec_common.h"

typedef struct {
    /* The loop nest over the output, outermost first, after the compiler merged contiguous
     * dimensions; unused leading entries are 1. Strides are in elements, 0 on a dimension an
     * input broadcasts along. The output is written contiguously. */
    int32_t out_dims[EC_MAX_DIMS];
    int32_t in0_strides[EC_MAX_DIMS];
    int32_t in1_strides[EC_MAX_DIMS];
} ec_maximum_minimum_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_maximum_s8(const ec_maximum_minimum_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out);
void ec_minimum_s8(const ec_maximum_minimum_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out);
void ec_maximum_s16(const ec_maximum_minimum_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out);
void ec_minimum_s16(const ec_maximum_minimum_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out);

#endif /* EC_MAXIMUM_MINIMUM_H */
