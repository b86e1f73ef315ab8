/* edgeconv C runtime: FULLY_CONNECTED, int8, per-tensor or per-channel weights. */
#ifndef EC_FULLY_CONNECTED_H
#define EC_FULLY_CONNECTED_H

#include "ec_common.h"

typedef struct {
    int32_t batches;   /* input elements / depth */
    int32_t depth;     /* input features */
    int32_t units;     /* output features */
    int32_t output_zp;
    int32_t act_min, act_max;
    int32_t per_channel;
    const int8_t *weights;     /* [units][depth] */
    const int32_t *bias;       /* model bias - input_zp * sum(weights row), per unit */
    const int32_t *multiplier;
    const int32_t *shift;
} ec_fully_connected_params_t;

void ec_fully_connected_s8(const ec_fully_connected_params_t *p, const int8_t *input,
                           int8_t *output);

#endif /* EC_FULLY_CONNECTED_H */
