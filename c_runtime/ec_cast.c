/* edgeconv C runtime: CAST (see ec_cast.h). */
#include "ec_cast.h"

/* The low 8/16/32 bits of x as a signed value: the unsigned conversion is defined modulo
 * 2^N, and the final step only converts values that fit. */
static int8_t wrap_s8(int32_t x) {
    const uint32_t u = (uint32_t)x & 0xFFu;
    return (int8_t)(u >= 0x80u ? (int32_t)u - 0x100 : (int32_t)u);
}

static int16_t wrap_s16(int32_t x) {
    const uint32_t u = (uint32_t)x & 0xFFFFu;
    return (int16_t)(u >= 0x8000u ? (int32_t)u - 0x10000 : (int32_t)u);
}

static int32_t wrap_s32(int32_t x) {
    return x;
}

static int32_t read_b(uint8_t x) {
    return x != 0;
}
static int32_t read_int(int32_t x) {
    return x;
}

#define EC_CAST(NAME, FROM, TO, READ, WRAP)                               \
    void NAME(const ec_cast_params_t *p, const FROM *input, TO *output) { \
        int32_t i;                                                        \
        for (i = 0; i < p->size; ++i) {                                   \
            output[i] = WRAP(READ(input[i]));                             \
        }                                                                 \
    }

/* One function per type pair, all from EC_CAST: a firmware links only the casts it uses. */
EC_CAST(ec_cast_s8_s8, int8_t, int8_t, read_int, wrap_s8)
EC_CAST(ec_cast_s8_s16, int8_t, int16_t, read_int, wrap_s16)
EC_CAST(ec_cast_s8_s32, int8_t, int32_t, read_int, wrap_s32)
EC_CAST(ec_cast_s16_s8, int16_t, int8_t, read_int, wrap_s8)
EC_CAST(ec_cast_s16_s16, int16_t, int16_t, read_int, wrap_s16)
EC_CAST(ec_cast_s16_s32, int16_t, int32_t, read_int, wrap_s32)
/* int32 and bool sources: the same macro, one function per pair (see above). */
EC_CAST(ec_cast_s32_s8, int32_t, int8_t, read_int, wrap_s8)
EC_CAST(ec_cast_s32_s16, int32_t, int16_t, read_int, wrap_s16)
EC_CAST(ec_cast_s32_s32, int32_t, int32_t, read_int, wrap_s32)
EC_CAST(ec_cast_b_s8, uint8_t, int8_t, read_b, wrap_s8)
EC_CAST(ec_cast_b_s16, uint8_t, int16_t, read_b, wrap_s16)
EC_CAST(ec_cast_b_s32, uint8_t, int32_t, read_b, wrap_s32)
