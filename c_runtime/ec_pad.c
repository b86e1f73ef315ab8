/* edgeconv C runtime: PAD/PADV2 for int8, as TFLite's reference PadImpl: the output is
 * written in order, each element either the pad value or the next input element. Rows of
 * the innermost dimension are filled with memset/memcpy instead of one element at a time. */
#include <string.h>

#include "ec_pad.h"

static int outside(int32_t i, int32_t left, int32_t size, int32_t right) {
    return i < left || i >= size - right;
}

void ec_pad_s8(const ec_pad_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t *od = p->out_dims;
    const int32_t depth = p->in_dims[4];
    const int32_t out_depth = od[4];
    const int8_t value = (int8_t)p->pad_value;
    int32_t b, q, h, w;
    for (b = 0; b < od[0]; ++b) {
        const int pad_b = outside(b, p->left[0], od[0], p->right[0]);
        for (q = 0; q < od[1]; ++q) {
            const int pad_q = pad_b || outside(q, p->left[1], od[1], p->right[1]);
            for (h = 0; h < od[2]; ++h) {
                const int pad_h = pad_q || outside(h, p->left[2], od[2], p->right[2]);
                for (w = 0; w < od[3]; ++w) {
                    if (pad_h || outside(w, p->left[3], od[3], p->right[3])) {
                        memset(output, value, (size_t)out_depth);
                    } else {
                        memset(output, value, (size_t)p->left[4]);
                        memcpy(output + p->left[4], input, (size_t)depth);
                        memset(output + p->left[4] + depth, value, (size_t)p->right[4]);
                        input += depth;
                    }
                    output += out_depth;
                }
            }
        }
    }
}
