/* edgeconv C runtime: CONV_2D, int8 activations, int8 per-channel (or per-tensor) weights. */
#ifndef EC_CONV_H
#define EC_CONV_H

#include "ec_common.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t filter_in_c; /* in_c / groups: TFLite grouped convolution */
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w; /* leading (top, left) padding */
    int32_t input_zp;     /* a padded tap reads this value, so it contributes 0 */
    int32_t output_zp;
    int32_t act_min, act_max;
    int32_t per_channel;          /* 0: multiplier[0], shift[0] serve every channel */
    const int8_t *weights;        /* [out_c][k_h][k_w][filter_in_c] */
    const int32_t *bias;          /* model bias - input_zp * sum(weights), per channel */
    const int32_t *multiplier;    /* Q31 */
    const int32_t *shift;
} ec_conv2d_params_t;

void ec_conv2d_s8(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output);

#endif /* EC_CONV_H */
