/* edgeconv C runtime: SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND for int8, following TFLite's
 * reference kernels loop for loop: whole depth rows are moved with memcpy, padded rows are
 * filled with memset. Pure data movement: no requantization. */
#include <string.h>

#include "ec_space_batch.h"

void ec_space_to_batch_s8(const ec_space_to_batch_params_t *p, const int8_t *input, int8_t *output) {
    const size_t depth = (size_t)p->depth;
    int32_t out_b, out_h, out_w;
    for (out_b = 0; out_b < p->out_b; ++out_b) {
        /* Output batch out_b holds block offset (shift_h, shift_w) of input batch in_b. */
        const int32_t in_b = out_b % p->in_b;
        const int32_t shift_w = (out_b / p->in_b) % p->block_w;
        const int32_t shift_h = (out_b / p->in_b) / p->block_w;
        for (out_h = 0; out_h < p->out_h; ++out_h) {
            const int32_t in_h = out_h * p->block_h + shift_h - p->pad_top;
            for (out_w = 0; out_w < p->out_w; ++out_w) {
                const int32_t in_w = out_w * p->block_w + shift_w - p->pad_left;
                int8_t *out = output + ((out_b * p->out_h + out_h) * p->out_w + out_w) * p->depth;
                if (in_h < 0 || in_h >= p->in_h || in_w < 0 || in_w >= p->in_w) {
                    memset(out, (int8_t)p->pad_value, depth);
                } else {
                    memcpy(out, input + ((in_b * p->in_h + in_h) * p->in_w + in_w) * p->depth, depth);
                }
            }
        }
    }
}

void ec_batch_to_space_s8(const ec_batch_to_space_params_t *p, const int8_t *input, int8_t *output) {
    const size_t depth = (size_t)p->depth;
    int32_t in_b, in_h, in_w;
    for (in_b = 0; in_b < p->in_b; ++in_b) {
        const int32_t out_b = in_b % p->out_b;
        const int32_t offset = in_b / p->out_b; /* which block position this batch holds */
        for (in_h = 0; in_h < p->in_h; ++in_h) {
            const int32_t out_h = in_h * p->block_h + offset / p->block_w - p->crop_top;
            if (out_h < 0 || out_h >= p->out_h) {
                continue; /* cropped away */
            }
            for (in_w = 0; in_w < p->in_w; ++in_w) {
                const int32_t out_w = in_w * p->block_w + offset % p->block_w - p->crop_left;
                if (out_w < 0 || out_w >= p->out_w) {
                    continue;
                }
                memcpy(output + ((out_b * p->out_h + out_h) * p->out_w + out_w) * p->depth,
                       input + ((in_b * p->in_h + in_h) * p->in_w + in_w) * p->depth, depth);
            }
        }
    }
}
