/* edgeconv C runtime: strided and indexed copies (see ec_copy.h). Pure data movement, so
 * bit-exactness only needs the right offsets, which the lowerings compute at compile time.
 *
 * Both walks are an odometer over the outer dimensions around one run of the innermost
 * dimension: as many nested loops as the (merged) shape has, without a fixed loop count. The
 * entry points differ only in the element type; they are written out by one macro so that a
 * firmware links only the sizes its model moves. */
#include <string.h>

#include "ec_copy.h"

/* The strided walk. `off` is always the input index of the current run's first element; when
 * an outer index wraps, its whole span (stride * size, bounded by the input's element count
 * at compile time) is taken back. */
#define EC_COPY_STRIDED(NAME, T)                                      \
    void NAME(const ec_copy_params_t *p, const T *input, T *output) { \
        int32_t idx[EC_COPY_MAX_DIMS];                                \
        const int32_t last = p->rank - 1;                             \
        const int32_t n = p->out_dims[last];                          \
        const int32_t s = p->in_strides[last];                        \
        int32_t off = p->in_offset;                                   \
        int32_t d;                                                    \
        for (d = 0; d < EC_COPY_MAX_DIMS; ++d) {                      \
            idx[d] = 0;                                               \
        }                                                             \
        for (;;) {                                                    \
            const T *src = input + off;                               \
            if (s == 1) {                                             \
                memcpy(output, src, (size_t)n * sizeof(T));           \
            } else {                                                  \
                int32_t i;                                            \
                for (i = 0; i < n; ++i) {                             \
                    output[i] = src[i * s];                           \
                }                                                     \
            }                                                         \
            output += n;                                              \
            for (d = last - 1; d >= 0; --d) {                         \
                off += p->in_strides[d];                              \
                if (++idx[d] < p->out_dims[d]) {                      \
                    break;                                            \
                }                                                     \
                idx[d] = 0;                                           \
                off -= p->in_strides[d] * p->out_dims[d];             \
            }                                                         \
            if (d < 0) {                                              \
                return;                                               \
            }                                                         \
        }                                                             \
    }

/* The indexed walk: the run's base offset is the sum of the outer dimensions' table entries,
 * recomputed per run (at most EC_COPY_MAX_DIMS - 1 additions, small beside the run). */
#define EC_COPY_INDEXED(NAME, T)                                              \
    void NAME(const ec_copy_indexed_params_t *p, const T *input, T *output) { \
        EC_CREF(int32_t) table[EC_COPY_MAX_DIMS];                             \
        int32_t idx[EC_COPY_MAX_DIMS];                                        \
        const int32_t last = p->rank - 1;                                     \
        const int32_t n = p->out_dims[last];                                  \
        EC_CREF(int32_t) t = p->offsets;                                      \
        int32_t d;                                                            \
        for (d = 0; d < EC_COPY_MAX_DIMS; ++d) {                              \
            idx[d] = 0;                                                       \
            table[d] = t;                                                     \
            if (d < p->rank) {                                                \
                t = EC_CADD(t, p->out_dims[d], int32_t);                      \
            }                                                                 \
        }                                                                     \
        for (;;) {                                                            \
            int32_t base = 0;                                                 \
            int32_t i;                                                        \
            for (d = 0; d < last; ++d) {                                      \
                base += EC_C_S32(table[d], idx[d]);                           \
            }                                                                 \
            for (i = 0; i < n; ++i) {                                         \
                output[i] = input[base + EC_C_S32(table[last], i)];           \
            }                                                                 \
            output += n;                                                      \
            for (d = last - 1; d >= 0; --d) {                                 \
                if (++idx[d] < p->out_dims[d]) {                              \
                    break;                                                    \
                }                                                             \
                idx[d] = 0;                                                   \
            }                                                                 \
            if (d < 0) {                                                      \
                return;                                                       \
            }                                                                 \
        }                                                                     \
    }

EC_COPY_STRIDED(ec_copy_s8, int8_t)
EC_COPY_STRIDED(ec_copy_s16, int16_t)
EC_COPY_STRIDED(ec_copy_s32, int32_t)

EC_COPY_INDEXED(ec_copy_indexed_s8, int8_t)
EC_COPY_INDEXED(ec_copy_indexed_s16, int16_t)
