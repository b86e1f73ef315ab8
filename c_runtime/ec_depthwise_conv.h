/* edgeconv C runtime: DEPTHWISE_CONV_2D, int8, depth multiplier >= 1. */
#ifndef EC_DEPTHWISE_CONV_H
#define EC_DEPTHWISE_CONV_H

#include "ec_common.h"

/* Weight layout (arranged at compile time by edgeconv/lowering/ops/depthwise.py), T = k_h * k_w taps
 * in row-major (ky, kx) order:
 * - depth multiplier 1: channel blocks of four, [out_c / 4][T][4], then the remaining
 *   out_c % 4 channels as [T][out_c % 4]. Each block of four holds its channels in the order
 *   c1, c0, c3, c2 (int8 weights) or c0, c2, c1, c3 (int16, weights16): the orders in which
 *   the DSP path splits a 32-bit word into halfwords (ec_depthwise_conv.c, dw_tap).
 * - depth multiplier > 1: [T][out_c] (int8 only).
 * Exactly one of weights and weights16 is non-NULL. */
/* ec_depthwise_conv2d_s16_params_t below repeats the geometry fields: each entry point has one
 * flat params struct that the generated code fills directly. */
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
    int32_t pad_block; /* 1: rows that pad are computed from a padded copy in scratch */
    EC_CREF(int8_t) weights;
    EC_CREF(int16_t) weights16;
    EC_CREF(int32_t) bias; /* folded like ec_conv2d's */
    /* Per channel (or one, if !per_channel) the requantization multiplier and shift, side by
     * side so that one pointer (and one LDRD) brings both. */
    EC_CREF(int32_t) requant;
} ec_depthwise_conv2d_params_t;

/* scratch: with pad_block, k_h * span_w * in_c bytes (span_w = (out_w - 1) * stride_w +
 * (k_w - 1) * dil_w + 1, the columns the windows of one output row cover), else unused. */
/* One entry point per loop family and weight form, so that a firmware links only the loops its
 * layers use (edgeconv/lowering/ops/depthwise.py picks one from the layer's shape). Every entry point
 * computes any layer exactly; a layer outside its family runs a slow portable loop, which the
 * compiler never asks for. The suffix _w16 reads the int16 form (weights16), the others the
 * int8 form (weights); without the DSP path every entry point reads whichever form is set.
 * - ec_depthwise_conv2d_s8[_w16]: any kernel (and any depth multiplier);
 * - _3x3[_w16]: 3x3 kernels; _3x3p[_w16]: the same, two pixels at a time where consecutive
 *   windows are one tap column apart (stride_w == dil_w);
 * - _kx1[_w16]: k_h x 1 kernels; _kx1p[_w16]: the same, two pixels at a time where
 *   consecutive windows are one tap row apart (one-pixel rows with stride_h == dil_h). */
#define EC_DW_ENTRY(name) \
    void name(const ec_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch)
EC_DW_ENTRY(ec_depthwise_conv2d_s8);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_w16);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_3x3);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_3x3_w16);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_3x3p);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_3x3p_w16);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_kx1);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_kx1_w16);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_kx1p);
EC_DW_ENTRY(ec_depthwise_conv2d_s8_kx1p_w16);

/* DEPTHWISE_CONV_2D 16x8: int16 activations (zero points 0, as TFLite requires), int8
 * weights, int64 bias: TFLite's reference DepthwiseConvPerChannel for int16 (int64
 * accumulator, the 64-bit requantization). Weights [k_h * k_w][out_c]: channels below
 * out_c - out_c % 4 in quads stored (c0, c2, c1, c3) (ec_dot.h, EC_S16_SLOT), the rest in
 * natural order. */
/* The geometry fields of ec_depthwise_conv2d_params_t above, repeated: one flat params struct
 * per entry point. */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c; /* out_c == in_c * depth_multiplier */
    int32_t depth_multiplier;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
    int32_t sum32;            /* 1: every channel's partial sums fit int32 (proved by the compiler) */
    EC_CREF(int8_t) weights;  /* see above */
    EC_CREF(int32_t) tap_off; /* per tap (ky, kx): (ky * dil_h * in_w + kx * dil_w) * in_c, input offsets */
    EC_CREF(int64_t) bias;    /* per output channel: the folded bias (ec_requantize_s64_folded), never NULL */
    EC_CREF(int32_t) requant; /* per output channel: Q15 multiplier, total shift */
} ec_depthwise_conv2d_s16_params_t;

void ec_depthwise_conv2d_s16(const ec_depthwise_conv2d_s16_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_DEPTHWISE_CONV_H */
