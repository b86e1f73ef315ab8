/* edgeconv C runtime: pooling for int8 and int16, bit-exact with TFLite's reference kernels
 * (reference_integer_ops::AveragePool and MaxPool, which TFLite Micro runs for both types).
 *
 * Padded positions are not part of the window: the average divides by the number of taps
 * inside the input, rounding half away from zero, as TFLite does.
 *
 * Ranges (edgeconv/lowering/ops/pooling.py proves them per model, refusing it otherwise): the window
 * arithmetic oy * stride - pad and in - iy0 fits int32 (check_spatial_indices); a window
 * holds count <= min(k_h, in_h) * min(k_w, in_w) values, and the lowering refuses windows
 * where |sum| + count / 2 could exceed 2^31 - 1: <= 128.5 * count for int8 (more than
 * 16,711,935 values), <= 32768.5 * count for int16 (more than 65,535 values), so neither the
 * int32 sum nor the rounding overflows.
 *
 * One function per type and pooling (EC_AVG_POOL_DEFINE, EC_MAX_POOL_DEFINE), so a firmware
 * links only those its model uses.
 */
#include "ec_pooling.h"

static void window(const ec_pool_params_t *p, int32_t oy, int32_t ox, int32_t *iy0, int32_t *ix0, int32_t *ky0,
                   int32_t *ky1, int32_t *kx0, int32_t *kx1) {
    *iy0 = oy * p->stride_h - p->pad_h;
    *ix0 = ox * p->stride_w - p->pad_w;
    *ky0 = ec_max_i32(0, -*iy0);
    *ky1 = ec_min_i32(p->k_h, p->in_h - *iy0);
    *kx0 = ec_max_i32(0, -*ix0);
    *kx1 = ec_min_i32(p->k_w, p->in_w - *ix0);
}

/* EC_MAX_POOL_DEFINE below walks the same windows: a separate macro because the inner loop (sum
 * and count vs running maximum) and the output stage differ. */
#define EC_AVG_POOL_DEFINE(name, type)                                                             \
    void name(const ec_pool_params_t *p, const type *input, type *output) {                        \
        int32_t b, oy, ox, c, ky, kx;                                                              \
        for (b = 0; b < p->batches; ++b) {                                                         \
            const type *in_b = input + b * p->in_h * p->in_w * p->channels;                        \
            for (oy = 0; oy < p->out_h; ++oy) {                                                    \
                for (ox = 0; ox < p->out_w; ++ox) {                                                \
                    int32_t iy0, ix0, ky0, ky1, kx0, kx1, count;                                   \
                    type *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->channels;      \
                    window(p, oy, ox, &iy0, &ix0, &ky0, &ky1, &kx0, &kx1);                         \
                    count = (ky1 - ky0) * (kx1 - kx0);                                             \
                    for (c = 0; c < p->channels; ++c) {                                            \
                        int32_t acc = 0;                                                           \
                        for (ky = ky0; ky < ky1; ++ky) {                                           \
                            for (kx = kx0; kx < kx1; ++kx) {                                       \
                                acc += in_b[((iy0 + ky) * p->in_w + ix0 + kx) * p->channels + c];  \
                            }                                                                      \
                        }                                                                          \
                        if (count > 0) {                                                           \
                            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count; \
                        }                                                                          \
                        out[c] = (type)ec_clamp_i32(acc, p->act_min, p->act_max);                  \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* lowest: the type's minimum, where TFLite starts its running maximum. */
/* The window walk of EC_AVG_POOL_DEFINE above, kept apart: see there. */
#define EC_MAX_POOL_DEFINE(name, type, lowest)                                                                \
    void name(const ec_pool_params_t *p, const type *input, type *output) {                                   \
        int32_t b, oy, ox, c, ky, kx;                                                                         \
        for (b = 0; b < p->batches; ++b) {                                                                    \
            const type *in_b = input + b * p->in_h * p->in_w * p->channels;                                   \
            for (oy = 0; oy < p->out_h; ++oy) {                                                               \
                for (ox = 0; ox < p->out_w; ++ox) {                                                           \
                    int32_t iy0, ix0, ky0, ky1, kx0, kx1;                                                     \
                    type *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->channels;                 \
                    window(p, oy, ox, &iy0, &ix0, &ky0, &ky1, &kx0, &kx1);                                    \
                    for (c = 0; c < p->channels; ++c) {                                                       \
                        int32_t m = (lowest);                                                                 \
                        for (ky = ky0; ky < ky1; ++ky) {                                                      \
                            for (kx = kx0; kx < kx1; ++kx) {                                                  \
                                m = ec_max_i32(m, in_b[((iy0 + ky) * p->in_w + ix0 + kx) * p->channels + c]); \
                            }                                                                                 \
                        }                                                                                     \
                        out[c] = (type)ec_clamp_i32(m, p->act_min, p->act_max);                               \
                    }                                                                                         \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }

EC_AVG_POOL_DEFINE(ec_avg_pool_s8, int8_t)
EC_MAX_POOL_DEFINE(ec_max_pool_s8, int8_t, -128)
EC_AVG_POOL_DEFINE(ec_avg_pool_s16, int16_t)
EC_MAX_POOL_DEFINE(ec_max_pool_s16, int16_t, -32768)
