/* edgeconv C runtime: MEAN and SUM over any set of axes, int8 or int16 in, the same type out,
 * with requantization (TFLite Micro's QuantizedMeanOrSum; SUM's multiplier has no 1/count). */
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
    int32_t count; /* elements summed into each output; 0 when the input is empty */
    int32_t input_zp;
    int32_t output_zp;
    int32_t multiplier; /* Q31 of in_scale / out_scale (MEAN: with 1/count folded in, as TFLite does) */
    int32_t shift;
} ec_mean_params_t;

/* scratch: num_outputs int32 accumulators. */
void ec_mean_s8(const ec_mean_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void ec_mean_s16(const ec_mean_params_t *p, const int16_t *input, int16_t *output, void *scratch);

#endif /* EC_MEAN_H */
