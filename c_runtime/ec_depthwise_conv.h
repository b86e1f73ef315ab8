/* edgeconv C runtime: DEPTHWISE_CONV_2D, int8, depth multiplier >= 1. */
#ifndef EC_DEPTHWISE_CONV_H
#define EC_DEPTHWISE_CONV_H

#include "ec_common.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c; /* out_c == in_c * depth_multiplier */
    int32_t depth_multiplier;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t input_zp;
    int32_t output_zp;
    int32_t act_min, act_max;
    int32_t per_channel;
    const int8_t *weights;     /* [k_h][k_w][out_c] */
    const int32_t *bias;       /* folded like ec_conv2d's */
    const int32_t *multiplier;
    const int32_t *shift;
} ec_depthwise_conv2d_params_t;

void ec_depthwise_conv2d_s8(const ec_depthwise_conv2d_params_t *p, const int8_t *input,
                            int8_t *output);

#endif /* EC_DEPTHWISE_CONV_H */
