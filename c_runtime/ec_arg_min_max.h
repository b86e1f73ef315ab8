/* edgeconv C runtime: ARG_MAX and ARG_MIN of int8 along one axis, int32 or int64 indices. */
#ifndef EC_ARG_MIN_MAX_H
#define EC_ARG_MIN_MAX_H

#include "ec_common.h"

typedef struct {
    int32_t outer;     /* product of the dimensions before the axis */
    int32_t axis_size; /* >= 1 */
    int32_t inner;     /* product of the dimensions after it */
} ec_arg_min_max_params_t;

/* One entry point per element type: a firmware links only those its model calls (the runtime's
 * headers list them alike on purpose). */
void ec_arg_max_s8_s32(const ec_arg_min_max_params_t *p, const int8_t *input, int32_t *output);
void ec_arg_min_s8_s32(const ec_arg_min_max_params_t *p, const int8_t *input, int32_t *output);
void ec_arg_max_s8_s64(const ec_arg_min_max_params_t *p, const int8_t *input, int64_t *output);
void ec_arg_min_s8_s64(const ec_arg_min_max_params_t *p, const int8_t *input, int64_t *output);

#endif /* EC_ARG_MIN_MAX_H */
