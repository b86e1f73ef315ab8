/* edgeconv C runtime: shared types and small helpers.
 *
 * Every kernel file includes this header. It depends on <stdint.h> only, so generated models
 * stay free of libc beyond <stdint.h>/<string.h>.
 */
#ifndef EC_COMMON_H
#define EC_COMMON_H

#include <stdint.h>

/* The user's own settings (section macros, EC_PROFILE_OP), from a header they name at build
 * time: -DEC_CONFIG_HEADER='"my_ec_config.h"'. A computed include is plain C99. cppcheck,
 * which tries every configuration, cannot know the user's header: it skips the include. */
#if defined(EC_CONFIG_HEADER) && !defined(__CPPCHECK__)
#include EC_CONFIG_HEADER
#endif

/* The runtime's version: edgeconv's version and a hash of every runtime source. edgeconv
 * writes the real value into each copy it emits (the source tree holds a placeholder). Each
 * generated model .c defines EC_MODEL_RUNTIME_VERSION_ID, the runtime it was generated with,
 * before it includes this file, and checks EC_RUNTIME_VERSION_ID after: a model compiled
 * against another runtime stops with an #error from each side, naming both versions. */
#define EC_RUNTIME_VERSION "0.0.0+source"
#define EC_RUNTIME_VERSION_ID 0x00000000UL
#if defined(EC_MODEL_RUNTIME_VERSION_ID) && EC_MODEL_RUNTIME_VERSION_ID != EC_RUNTIME_VERSION_ID
#error "edgeconv runtime mismatch: this ec_common.h is runtime 0.0.0+source, not the runtime the model being compiled was generated with"
#endif

/* Where the arena and the constant arrays (weights, biases, tables) go. Empty by default
 * (the toolchain's .bss and .rodata); define them before this header is read (on the command
 * line or in EC_CONFIG_HEADER), e.g.
 *   #define EC_ARENA_SECTION __attribute__((section(".sdram")))
 *   #define EC_WEIGHTS_SECTION __attribute__((section(".qspi_rodata")))
 * The linker script must then place those sections. (On a Harvard core, use
 * EC_WEIGHTS_IN_PROGMEM below instead of a weights section.) */
#ifndef EC_ARENA_SECTION
#define EC_ARENA_SECTION
#endif
#ifndef EC_WEIGHTS_SECTION
#define EC_WEIGHTS_SECTION
#endif

/* Weights in program memory (Harvard cores, where a plain const array is copied into RAM).
 * With EC_WEIGHTS_IN_PROGMEM defined (the atmega2560 profile's cflags), the arrays the MAC
 * kernels read only through the accessors below (role "weights": CONV_2D, DEPTHWISE_CONV_2D,
 * FULLY_CONNECTED, TRANSPOSE_CONV filters, PRELU's alpha) carry EC_WEIGHTS_PROGMEM, avr-libc's
 * PROGMEM, and stay in flash; the accessors read them with pgm_read_byte/pgm_read_word. A
 * 16-bit pointer reaches the first 64 KB of flash only (edgeconv's AVR build refuses a model
 * whose flash arrays end beyond). Elsewhere the accessors are plain loads, the attribute is
 * empty. Biases, multipliers, tables and params structs stay ordinary const data. */
#if defined(EC_WEIGHTS_IN_PROGMEM) && defined(__AVR__)
#include <avr/pgmspace.h>
#define EC_WEIGHTS_PROGMEM PROGMEM
#define EC_WEIGHT_S8(p) ((int8_t)pgm_read_byte(p))
#define EC_WEIGHT_S16(p) ((int16_t)pgm_read_word(p))
#else
#define EC_WEIGHTS_PROGMEM
#define EC_WEIGHT_S8(p) (*(p))
#define EC_WEIGHT_S16(p) (*(p))
#endif

/* Weights and the arena are aligned so that word-wide loads (and the DSP fast paths) may
 * read them directly. Only GCC-compatible compilers take the attribute; others still get
 * naturally aligned arrays. */
#if defined(__GNUC__) || defined(__clang__)
#define EC_ALIGN(n) __attribute__((aligned(n)))
#else
#define EC_ALIGN(n)
#endif

#define EC_MAX_DIMS 6

/* Marks the start of op i (0-based, in execution order) in the generated invoke function.
 * Free by default. A user may define it (before this header is read: on the command line or
 * in EC_CONFIG_HEADER) to time each op, e.g. with a Cortex-M DWT cycle counter (see
 * docs/firmware-integration.md). Emulated builds define EC_PROFILE instead, so that an
 * instruction-counting emulator can attribute instructions to ops (it watches this store). */
#ifndef EC_PROFILE_OP
#ifdef EC_PROFILE
extern volatile int32_t ec_profile_op;
#define EC_PROFILE_OP(i) (ec_profile_op = (i))
#else
#define EC_PROFILE_OP(i) ((void)0)
#endif
#endif

static inline int32_t ec_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t ec_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t ec_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Broadcast iteration for element-wise kernels with two inputs. The compiler describes the
 * loop nest over the output (outermost first, contiguous dimensions merged, unused leading
 * entries 1) with per-input strides in elements, 0 along a broadcast dimension. A kernel walks
 * the innermost dimension itself, in runs of out_dims[EC_MAX_DIMS - 1] elements, and calls
 * ec_broadcast_next between runs. Offsets are integers, so no pointer ever steps outside its
 * array. */
typedef struct {
    int32_t idx[EC_MAX_DIMS - 1];
    int32_t off0, off1; /* element offsets of the current run's start in each input */
    int32_t runs;       /* number of inner runs */
} ec_broadcast_iter_t;

static inline void ec_broadcast_begin(const int32_t *out_dims, ec_broadcast_iter_t *it) {
    int d;
    it->off0 = 0;
    it->off1 = 0;
    it->runs = 1;
    for (d = 0; d < EC_MAX_DIMS - 1; ++d) {
        it->idx[d] = 0;
        it->runs *= out_dims[d];
    }
}

static inline void ec_broadcast_next(const int32_t *out_dims, const int32_t *strides0,
                                     const int32_t *strides1, ec_broadcast_iter_t *it) {
    int d;
    for (d = EC_MAX_DIMS - 2; d >= 0; --d) {
        it->off0 += strides0[d];
        it->off1 += strides1[d];
        if (++it->idx[d] < out_dims[d]) {
            return;
        }
        it->idx[d] = 0;
        it->off0 -= strides0[d] * out_dims[d];
        it->off1 -= strides1[d] * out_dims[d];
    }
}

#endif /* EC_COMMON_H */
