/* edgeconv C runtime: SELECT_V2, bit-exact with TFLite Micro's Select / BroadcastSelect5DSlow:
 * each output element is x's where the condition byte is nonzero, else y's (raw copies).
 *
 * The loop nest is walked with an odometer over the outer EC_MAX_DIMS - 1 loops and an inner
 * run over the last; offsets are element indices (bounded by the tensors' sizes, < 2^28), so
 * no pointer steps outside its array. */
#include "ec_select.h"

typedef struct {
    int32_t idx[EC_MAX_DIMS - 1];
    int32_t c, x, y; /* offsets of the current run's start */
} select_iter_t;

static int32_t select_begin(const ec_select_params_t *p, select_iter_t *it) {
    int32_t runs = 1;
    int d;
    for (d = 0; d < EC_MAX_DIMS - 1; ++d) {
        it->idx[d] = 0;
        runs *= p->out_dims[d];
    }
    it->c = it->x = it->y = 0;
    return runs;
}

static void select_next(const ec_select_params_t *p, select_iter_t *it) {
    int d;
    for (d = EC_MAX_DIMS - 2; d >= 0; --d) {
        it->c += p->cond_strides[d];
        it->x += p->x_strides[d];
        it->y += p->y_strides[d];
        if (++it->idx[d] < p->out_dims[d]) {
            return;
        }
        it->idx[d] = 0;
        it->c -= p->cond_strides[d] * p->out_dims[d];
        it->x -= p->x_strides[d] * p->out_dims[d];
        it->y -= p->y_strides[d] * p->out_dims[d];
    }
}

#define EC_SELECT_DEFINE(name, type)                                                                       \
    void name(const ec_select_params_t *p, const uint8_t *cond, const type *x, const type *y, type *out) { \
        const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];                                                \
        const int32_t sc = p->cond_strides[EC_MAX_DIMS - 1];                                               \
        const int32_t sx = p->x_strides[EC_MAX_DIMS - 1];                                                  \
        const int32_t sy = p->y_strides[EC_MAX_DIMS - 1];                                                  \
        select_iter_t it;                                                                                  \
        const int32_t runs = select_begin(p, &it);                                                         \
        int32_t n, i;                                                                                      \
        for (n = 0; n < runs; ++n) {                                                                       \
            for (i = 0; i < inner; ++i) {                                                                  \
                *out++ = cond[it.c + i * sc] ? x[it.x + i * sx] : y[it.y + i * sy];                        \
            }                                                                                              \
            select_next(p, &it);                                                                           \
        }                                                                                                  \
    }

EC_SELECT_DEFINE(ec_select_s8, int8_t)
EC_SELECT_DEFINE(ec_select_s16, int16_t)
