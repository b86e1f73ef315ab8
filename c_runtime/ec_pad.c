/* edgeconv C runtime: PAD/PADV2, as TFLite's reference PadImpl: the output is written in
 * order, each element either the pad value or the next input element. Rows of the innermost
 * dimension are copied with memcpy instead of one element at a time. The entry points differ
 * only in the element type (one macro writes them out). */
#include <string.h>

#include "ec_pad.h"

static int outside(int32_t i, int32_t left, int32_t size, int32_t right) {
    return i < left || i >= size - right;
}

#define EC_PAD(NAME, T)                                                                    \
    static void NAME##_fill(T *out, int32_t n, T value) {                                  \
        int32_t i;                                                                         \
        for (i = 0; i < n; ++i) {                                                          \
            out[i] = value;                                                                \
        }                                                                                  \
    }                                                                                      \
    void NAME(const ec_pad_params_t *p, const T *input, T *output) {                       \
        const int32_t *od = p->out_dims;                                                   \
        const int32_t depth = p->in_dims[4];                                               \
        const int32_t out_depth = od[4];                                                   \
        const T value = (T)p->pad_value;                                                   \
        int32_t b, q, h, w;                                                                \
        for (b = 0; b < od[0]; ++b) {                                                      \
            const int pad_b = outside(b, p->left[0], od[0], p->right[0]);                  \
            for (q = 0; q < od[1]; ++q) {                                                  \
                const int pad_q = pad_b || outside(q, p->left[1], od[1], p->right[1]);     \
                for (h = 0; h < od[2]; ++h) {                                              \
                    const int pad_h = pad_q || outside(h, p->left[2], od[2], p->right[2]); \
                    for (w = 0; w < od[3]; ++w) {                                          \
                        if (pad_h || outside(w, p->left[3], od[3], p->right[3])) {         \
                            NAME##_fill(output, out_depth, value);                         \
                        } else {                                                           \
                            NAME##_fill(output, p->left[4], value);                        \
                            memcpy(output + p->left[4], input, (size_t)depth * sizeof(T)); \
                            NAME##_fill(output + p->left[4] + depth, p->right[4], value);  \
                            input += depth;                                                \
                        }                                                                  \
                        output += out_depth;                                               \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

EC_PAD(ec_pad_s8, int8_t)
EC_PAD(ec_pad_s16, int16_t)
EC_PAD(ec_pad_s32, int32_t)
