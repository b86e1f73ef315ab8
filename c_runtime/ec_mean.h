/* edgeconv C runtime: MEAN over any set of axes, int8 in, int8 out, with requantization. */
#ifndef EC_MEAN_H
#define EC_MEAN_H

#include "ec_common.h"

typedef struct {
    /* The input shape right-aligned into EC_MAX_DIMS dimensions (leading 1s). */
    int32_t dims[EC_MAX_DIMS];
    /* Per input dimension, the step it makes in the output: 0 along a reduced axis, else
     * the output stride of that (kept) dimension. */
    int32_t out_strides[EC_MAX_DIMS];
    int32_t num_outputs;
    int32_t count;      /* elements summed into each output; 0 when a reduced axis is empty */
    int32_t input_zp;
    int32_t output_zp;
    int32_t multiplier; /* Q31 of in_scale / out_scale with 1/count folded in, as TFLite does */
    int32_t shift;
} ec_mean_params_t;

/* scratch: num_outputs int32 accumulators. */
void ec_mean_s8(const ec_mean_params_t *p, const int8_t *input, int8_t *output, void *scratch);

#endif /* EC_MEAN_H */
