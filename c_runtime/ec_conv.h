/* edgeconv C runtime: CONV_2D, int8 activations, int8 per-channel (or per-tensor) weights.
 *
 * The compiler (edgeconv/lowering/ops/conv.py) lays the weights out in the order the kernel reads them:
 * per group, the group's filters padded with zero filters to a multiple of 4 (blocks of 4
 * output channels), each filter's taps (ky, kx, ic) padded with zero taps to k_pad, a
 * multiple of 4, and within a block the taps in quads (k0..k3), interleaved as the
 * register-blocked DSP loop reads them:
 *   int8:  per quad 16 bytes: words (ch0,ch1 | k0,k2), (ch2,ch3 | k0,k2), (ch0,ch1 | k1,k3),
 *          (ch2,ch3 | k1,k3), each word as bytes [chA kx, chB kx, chA ky, chB ky];
 *   int16: per quad 16 halfwords: ch0..ch3 (k0,k2), then ch0..ch3 (k1,k3).
 * Bias and the requantization pair are per padded channel: index group * oc_pad + channel in
 * group.
 */
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
    int32_t k_pad;              /* k_h * k_w * filter_in_c rounded up to a multiple of 4 */
    int32_t oc_pad;             /* output channels per group rounded up to a multiple of 4 */
    EC_CREF(int8_t) weights;    /* int8 form (see above), or NULL */
    EC_CREF(int16_t) weights16; /* int16 form (see above), or NULL */
    EC_CREF(int32_t) bias;      /* model bias - input_zp * sum(weights), per padded channel */
    EC_CREF(int32_t) requant;   /* per padded channel: Q31 multiplier, then shift (one LDRD) */
} ec_conv2d_params_t;

/* scratch: the compiler's scratch_bytes (conv.py conv_scratch_bytes), 16-byte aligned: the
 * columns of two output pixels.
 * Two entry points, one per weight form, so that a firmware links only the loops its layers
 * use: ec_conv2d_s8 reads the int8 form (weights), ec_conv2d_s8_w16 the int16 form
 * (weights16). Both take any shape. (The portable build reads whichever form is set.) */
void ec_conv2d_s8(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void ec_conv2d_s8_w16(const ec_conv2d_params_t *p, const int8_t *input, int8_t *output, void *scratch);

/* CONV_2D 16x8: int16 activations, int8 weights (per channel or per tensor), int64 or int32
 * bias, TFLite's reference ConvPerChannel<AccumScalar> (its 16x8 overload). TFLite requires
 * the activations' zero points to be 0 (the compiler refuses others), so a padded tap adds
 * nothing and nothing is folded. Weights, per group: the group's filters padded with zero
 * filters to oc_pad (a multiple of 4), in blocks of 4 filters; each filter's taps (ky, kx, ic)
 * zero padded to k_pad and cut into quads; a block stores quad by quad the 4 filters' quads,
 * each quad as (k0, k2, k1, k3) (ec_dot.h, EC_S16_SLOT): filter j of group g, tap k is byte
 * ((((g * oc_pad / 4 + j / 4) * k_pad / 4 + k / 4) * 4 + j % 4) * 4 + EC_S16_SLOT(k % 4)). */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t filter_in_c; /* in_c / groups */
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
    int32_t k_pad;            /* k_h * k_w * filter_in_c rounded up to a multiple of 4 */
    int32_t oc_pad;           /* out_c / groups rounded up to a multiple of 4 */
    int32_t sum32;            /* 1: every channel's partial sums fit int32 (proved by the compiler) */
    int32_t acc32;            /* 1: TFLite's accumulator is int32 (int32 bias): see ec_mac16_output */
    EC_CREF(int8_t) weights;  /* see above */
    EC_CREF(int64_t) bias;    /* per output channel: ec_mac16_output's bias (NULL: none, int32 accumulator only) */
    EC_CREF(int32_t) requant; /* per output channel, a pair: ec_mac16_output's rq */
} ec_conv2d_s16_params_t;

/* scratch: 2 * k_pad bytes (one int16 column), 4-byte aligned. */
void ec_conv2d_s16(const ec_conv2d_s16_params_t *p, const int16_t *input, int16_t *output, void *scratch);

#endif /* EC_CONV_H */
