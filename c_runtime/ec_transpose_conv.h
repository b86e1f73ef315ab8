/* edgeconv C runtime: TRANSPOSE_CONV, int8 (per-tensor or per-channel weights) and 16x8
 * (int16 activations, int8 weights, int64 bias). */
#ifndef EC_TRANSPOSE_CONV_H
#define EC_TRANSPOSE_CONV_H

#include "ec_common.h"

/* TFLite scatters every input pixel through the kernel into a whole-output accumulator
 * (out_y = in_y * stride - pad + k_y). These kernels gather instead: each output pixel sums
 * the taps that land on it, k_y = (out_y + pad) mod stride, + stride, ... with
 * in_y = (out_y + pad - k_y) / stride inside the input. Same products, another order: the
 * compiler proves that no partial sum leaves the accumulator's range (edgeconv/lowering/ops/
 * transpose_conv.py), so the sums are equal and no whole-output scratch is needed.
 *
 * Each tap is a contiguous dot product over the input channels (ec_dot.h: SMLAD / SMLALD on
 * the DSP path). */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;     /* TFLite's padding, computed from the output size */
    int32_t output_zp;        /* int8; 0 in 16x8 */
    int32_t act_min, act_max; /* fused activation, in the output type */
    int32_t per_channel;      /* 1: multiplier/shift per output channel, 0: one for all */
    /* int8: [out_c][k_h][k_w][in_c] as TFLite stores them. 16x8: each tap's in_c weights
     * zero-padded to tap_stride (a multiple of 4) and stored in quads (w0, w2, w1, w3), the
     * order ec_dot_s16x8_64 (ec_dot.h) reads. */
    EC_CREF(int8_t) weights; /* this and the arrays below: references to constants (ec_common.h) */
    int32_t tap_stride;      /* weights per tap: in_c (int8), in_c rounded up to 4 (16x8) */
    int32_t tap_sum32;       /* 16x8: 1 if one tap's dot product fits int32 (2^15 * sum|w|) */
    EC_CREF(int32_t) bias;   /* int8: model bias per output channel, or NULL */
    EC_CREF(int64_t) bias64; /* 16x8: model bias per output channel (int64), or NULL */
    /* int8: input_zp * sum over in_c of w[oc][ky][kx][.], per [oc][ky][kx], subtracted per
     * tap that lands inside the input (TFLite's (x - zp) * w, rearranged); NULL if zp is 0. */
    EC_CREF(int32_t) zp_sums;
    EC_CREF(int32_t) multiplier;
    EC_CREF(int32_t) shift;
} ec_transpose_conv_params_t;

void ec_transpose_conv_s8(const ec_transpose_conv_params_t *p, const int8_t *input, int8_t *output);
void ec_transpose_conv_s16(const ec_transpose_conv_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_TRANSPOSE_CONV_H */
