/* edgeconv C runtime: shared types and small helpers.
 *
 * Every kernel file includes this header. It depends on <stdint.h> only, so generated models
 * stay free of libc beyond <stdint.h>/<string.h>.
 */
#ifndef EC_COMMON_H
#define EC_COMMON_H

#include <stdint.h>

/* Weights and the arena are aligned so that word-wide loads (and the DSP fast paths) may
 * read them directly. Only GCC-compatible compilers take the attribute; others still get
 * naturally aligned arrays. */
#if defined(__GNUC__) || defined(__clang__)
#define EC_ALIGN(n) __attribute__((aligned(n)))
#else
#define EC_ALIGN(n)
#endif

#define EC_MAX_DIMS 6

static inline int32_t ec_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t ec_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t ec_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif /* EC_COMMON_H */
