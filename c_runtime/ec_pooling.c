/* edgeconv C runtime: pooling for int8, bit-exact with TFLite's reference kernels.
 *
 * Padded positions are not part of the window: the average divides by the number of taps
 * inside the input, rounding half away from zero, as TFLite does.
 *
 * Ranges (edgeconv/ops/pooling.py proves them per model, refusing it otherwise): the window
 * arithmetic oy * stride - pad and in - iy0 fits int32 (check_spatial_indices); a window
 * holds count <= min(k_h, in_h) * min(k_w, in_w) values, and the lowering refuses windows
 * where |sum| + count / 2 <= 128.5 * count could exceed 2^31 - 1 (more than 16,711,935
 * values), so neither the int32 sum nor the rounding overflows.
 */
#include "ec_pooling.h"

static void window(const ec_pool_params_t *p, int32_t oy, int32_t ox, int32_t *iy0, int32_t *ix0,
                   int32_t *ky0, int32_t *ky1, int32_t *kx0, int32_t *kx1) {
    *iy0 = oy * p->stride_h - p->pad_h;
    *ix0 = ox * p->stride_w - p->pad_w;
    *ky0 = ec_max_i32(0, -*iy0);
    *ky1 = ec_min_i32(p->k_h, p->in_h - *iy0);
    *kx0 = ec_max_i32(0, -*ix0);
    *kx1 = ec_min_i32(p->k_w, p->in_w - *ix0);
}

void ec_avg_pool_s8(const ec_pool_params_t *p, const int8_t *input, int8_t *output) {
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int32_t iy0, ix0, ky0, ky1, kx0, kx1, count;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->channels;
                window(p, oy, ox, &iy0, &ix0, &ky0, &ky1, &kx0, &kx1);
                count = (ky1 - ky0) * (kx1 - kx0);
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0;
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            acc += in_b[((iy0 + ky) * p->in_w + ix0 + kx) * p->channels + c];
                        }
                    }
                    if (count > 0) {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    out[c] = (int8_t)ec_clamp_i32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ec_max_pool_s8(const ec_pool_params_t *p, const int8_t *input, int8_t *output) {
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int32_t iy0, ix0, ky0, ky1, kx0, kx1;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->channels;
                window(p, oy, ox, &iy0, &ix0, &ky0, &ky1, &kx0, &kx1);
                for (c = 0; c < p->channels; ++c) {
                    int32_t m = -128;
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            m = ec_max_i32(m, in_b[((iy0 + ky) * p->in_w + ix0 + kx) * p->channels + c]);
                        }
                    }
                    out[c] = (int8_t)ec_clamp_i32(m, p->act_min, p->act_max);
                }
            }
        }
    }
}
