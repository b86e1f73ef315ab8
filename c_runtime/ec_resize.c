/* edgeconv C runtime: resizing for int8 (nearest neighbour also int16), bit-exact with TFLite Micro.
 *
 * Nearest neighbour copies whole depth rows from the tabulated source pixel.
 * Bilinear follows TFLite's ResizeBilinearInteger: four int8 taps weighted by products of Q10
 * fractions (a Q20 sum, formed in 64 bits), then divided by 2^20 rounding half away from zero
 * (the double-rounding build's rounding, which TFLite Micro uses). */
#include <string.h>

#include "ec_resize.h"

/* Nearest neighbour moves whole depth rows: the same loop for int8 and int16. */
#define EC_RESIZE_NEAREST(NAME, T)                                                                \
    void NAME(const ec_resize_nearest_params_t *p, const T *input, T *output) {                   \
        const int32_t batch_size = p->in_h * p->in_w * p->depth;                                  \
        int32_t b, y, x;                                                                          \
        for (b = 0; b < p->batches; ++b) {                                                        \
            const T *in_b = input + b * batch_size;                                               \
            for (y = 0; y < p->out_h; ++y) {                                                      \
                const T *row = in_b + EC_C_S32(p->y_offset, y);                                   \
                for (x = 0; x < p->out_w; ++x) {                                                  \
                    memcpy(output, row + EC_C_S32(p->x_offset, x), (size_t)p->depth * sizeof(T)); \
                    output += p->depth;                                                           \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    }

EC_RESIZE_NEAREST(ec_resize_nearest_s8, int8_t)
EC_RESIZE_NEAREST(ec_resize_nearest_s16, int16_t)

/* Bilinear: the same arithmetic for int8 and int16 (TFLite's ResizeBilinearInteger template).
 * The weighted sum is an average (the weights add up to 2^20; where a Q10 fraction is
 * negative, top and bottom rows are the same row), so the result fits the element type. */
#define EC_RESIZE_BILINEAR(NAME, T)                                                                                  \
    void NAME(const ec_resize_bilinear_params_t *p, const T *input, T *output) {                                     \
        const int32_t one = 1 << 10;                                                                                 \
        const int32_t row_size = p->in_w * p->depth;                                                                 \
        int32_t b, y, x, c;                                                                                          \
        for (b = 0; b < p->batches; ++b) {                                                                           \
            const T *in_b = input + b * p->in_h * row_size;                                                          \
            for (y = 0; y < p->out_h; ++y) {                                                                         \
                const T *top = in_b + EC_C_S32(p->y_table, 3 * y) * row_size;                                        \
                const T *bottom = in_b + EC_C_S32(p->y_table, 3 * y + 1) * row_size;                                 \
                const int32_t fy = EC_C_S32(p->y_table, 3 * y + 2);                                                  \
                for (x = 0; x < p->out_w; ++x) {                                                                     \
                    const int32_t left = EC_C_S32(p->x_table, 3 * x) * p->depth;                                     \
                    const int32_t right = EC_C_S32(p->x_table, 3 * x + 1) * p->depth;                                \
                    const int32_t fx = EC_C_S32(p->x_table, 3 * x + 2);                                              \
                    /* The four weights, each a product of two Q10 factors (|factor| < 2^11). */                     \
                    const int64_t w_tl = (int64_t)(one - fy) * (one - fx);                                           \
                    const int64_t w_bl = (int64_t)fy * (one - fx);                                                   \
                    const int64_t w_tr = (int64_t)(one - fy) * fx;                                                   \
                    const int64_t w_br = (int64_t)fy * fx;                                                           \
                    for (c = 0; c < p->depth; ++c) {                                                                 \
                        const int64_t sum = top[left + c] * w_tl + bottom[left + c] * w_bl + top[right + c] * w_tr + \
                                            bottom[right + c] * w_br;                                                \
                        /* Round half away from zero; C99 division truncates toward zero. */                         \
                        const int64_t round = sum > 0 ? ((int64_t)1 << 19) : -((int64_t)1 << 19);                    \
                        *output++ = (T)((sum + round) / ((int64_t)1 << 20));                                         \
                    }                                                                                                \
                }                                                                                                    \
            }                                                                                                        \
        }                                                                                                            \
    }

EC_RESIZE_BILINEAR(ec_resize_bilinear_s8, int8_t)
EC_RESIZE_BILINEAR(ec_resize_bilinear_s16, int16_t)
