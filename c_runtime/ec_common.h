/* edgeconv C runtime: what every kernel shares (each kernel's header includes this one).
 *
 * It includes <stdint.h> only (on an AVR also avr-libc's <avr/pgmspace.h>; and the user's
 * EC_CONFIG_HEADER where one is named), so generated models stay free of libc beyond
 * <stdint.h>/<string.h>. In order: the runtime version stamp; the placement macros
 * EC_ARENA_SECTION and EC_WEIGHTS_SECTION; the constant references (EC_CREF, EC_C_S8 ..
 * EC_C_S64, EC_FLASH_ARRAY, EC_PARAMS_LOAD: program memory on an AVR); EC_ALIGN; EC_MAX_DIMS;
 * EC_PROFILE_OP; min/max/clamp on int32; the broadcast iterator of the two-input kernels.
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
/* The message stays on one line. */
/* clang-format off */
#error "edgeconv runtime mismatch: this ec_common.h is runtime 0.0.0+source, not the runtime the model being compiled was generated with"
/* clang-format on */
#endif

/* Where the arena and the constant arrays (weights, biases, tables) go. Empty by default
 * (the toolchain's .bss and .rodata); define them before this header is read (on the command
 * line or in EC_CONFIG_HEADER), e.g.
 *   #define EC_ARENA_SECTION __attribute__((section(".sdram")))
 *   #define EC_WEIGHTS_SECTION __attribute__((section(".qspi_rodata")))
 * The linker script must then place those sections. (On a Harvard core, use
 * the program-memory constants below, the default on an AVR, instead of a weights section.) */
#ifndef EC_ARENA_SECTION
#define EC_ARENA_SECTION
#endif
#ifndef EC_WEIGHTS_SECTION
#define EC_WEIGHTS_SECTION
#endif

/* Constants in program memory (Harvard cores, where a plain const array is copied into RAM).
 * On an AVR (__AVR__) the constant arrays the kernels read through the accessors below (the
 * MAC kernels' weights, biases and requantization pairs, their tables: CArray.program_memory
 * in edgeconv's ops, EC_CREF fields in the params structs) stay in flash by default, so the
 * SRAM holds the arena, one params struct at a time and the stack; no flag is needed (an Arduino build
 * passes none). Define EC_CONSTANTS_IN_RAM to keep them in RAM instead. On a part whose flash
 * exceeds 64 KB (FLASHEND > 0xFFFF: the ATmega1280/2560) a reference is a 32-bit flash byte
 * address (ec_cref_t), read with pgm_read_*_far, so constants anywhere in flash are reached,
 * and the arrays go to the section .text.ec_far (among the code, after the near data that
 * avr-libc keeps in the first 64 KB). The params structs are in flash too (EC_FLASH_ARRAY): the
 * generated <name>_invoke copies each into RAM before its kernel runs (EC_PARAMS_LOAD) and, with
 * far references, writes the arrays' addresses there (EC_CREF_FIX, EC_CREF_SET: lo8/hi8/hh8 of
 * the symbol, as avr-libc's pgm_get_far_address).
 * EC_NEAR_CONSTANTS keeps 16-bit references (pgm_read_*, .progmem: the first 64 KB of flash
 * only; cheaper reads): edgeconv's own AVR builds define it when the model's constants fit.
 * EC_WEIGHTS_IN_PROGMEM is accepted and changes nothing (flash is the default).
 * Elsewhere a reference is a plain pointer and every accessor a plain load: the generated C and
 * every other target are unchanged.
 *   EC_CREF(T)        the type of a reference to constant Ts
 *   EC_CADD(r, n, T)  r advanced by n Ts
 *   EC_C_S8(r, i) .. EC_C_S64(r, i), EC_C_U8(r, i)   element i (EC_WEIGHT_S8(r): element 0)
 * Arrays larger than 32,767 bytes (avr-gcc's object limit) are emitted in parts, consecutive in
 * one section (no_reorder): the kernel reads them as one range from the first part. */
#if defined(__AVR__) && !defined(EC_CONSTANTS_IN_RAM)
#include <avr/pgmspace.h>
#define EC_CONSTANTS_IN_FLASH 1
#if FLASHEND > 0xFFFF && !defined(EC_NEAR_CONSTANTS)
#define EC_FAR_CONSTANTS 1
#endif
#endif

#if defined(EC_FAR_CONSTANTS)
typedef uint32_t ec_cref_t; /* a flash byte address */
#define EC_CREF(T) ec_cref_t
#define EC_CADD(r, n, T) ((r) + (uint32_t)(n) * (uint32_t)sizeof(T))
#define EC_C_S8(r, i) ((int8_t)pgm_read_byte_far(EC_CADD(r, i, int8_t)))
#define EC_C_U8(r, i) ((uint8_t)pgm_read_byte_far(EC_CADD(r, i, uint8_t)))
#define EC_C_S16(r, i) ((int16_t)pgm_read_word_far(EC_CADD(r, i, int16_t)))
#define EC_C_U16(r, i) ((uint16_t)pgm_read_word_far(EC_CADD(r, i, uint16_t)))
#define EC_C_S32(r, i) ((int32_t)pgm_read_dword_far(EC_CADD(r, i, int32_t)))
#define EC_C_S64(r, i) ec_flash_s64(EC_CADD(r, i, int64_t))
static inline int64_t ec_flash_s64(uint32_t a) {
    return (int64_t)(((uint64_t)pgm_read_dword_far(a + 4u) << 32) | (uint64_t)pgm_read_dword_far(a));
}
#define EC_FLASH_ARRAY __attribute__((section(".text.ec_far"), used, no_reorder))
/* A reference field's initializer (written at invoke by EC_CREF_SET), and that write. */
#define EC_CREF_INIT(a) 0xFFFFFFFFul
#define EC_CREF_SET(field, a) \
    __asm__("ldi %A0, lo8(%1)\n\tldi %B0, hi8(%1)\n\tldi %C0, hh8(%1)\n\tclr %D0" : "=d"(field) : "i"(&(a)))
/* A params struct (in flash, EC_FLASH_ARRAY) copied into RAM, and a reference written there. */
#define EC_PARAMS_LOAD(dst, src)                 \
    do {                                         \
        uint32_t ec_src_;                        \
        EC_CREF_SET(ec_src_, src);               \
        memcpy_PF(&(dst), ec_src_, sizeof(dst)); \
    } while (0)
#define EC_CREF_FIX(field, a) EC_CREF_SET(field, a)
#elif defined(EC_CONSTANTS_IN_FLASH)
#define EC_CREF(T) const T *
#define EC_CADD(r, n, T) ((r) + (n))
#define EC_C_S8(r, i) ((int8_t)pgm_read_byte((r) + (i)))
#define EC_C_U8(r, i) ((uint8_t)pgm_read_byte((r) + (i)))
#define EC_C_S16(r, i) ((int16_t)pgm_read_word((r) + (i)))
#define EC_C_U16(r, i) ((uint16_t)pgm_read_word((r) + (i)))
#define EC_C_S32(r, i) ((int32_t)pgm_read_dword((r) + (i)))
#define EC_C_S64(r, i) ec_flash_s64((const uint32_t *)(const void *)((r) + (i)))
static inline int64_t ec_flash_s64(const uint32_t *a) {
    return (int64_t)(((uint64_t)pgm_read_dword(a + 1) << 32) | (uint64_t)pgm_read_dword(a));
}
#define EC_FLASH_ARRAY __attribute__((section(".progmem.ec"), used, no_reorder))
#define EC_CREF_INIT(a) (a)
#define EC_PARAMS_LOAD(dst, src) memcpy_P(&(dst), &(src), sizeof(dst))
#define EC_CREF_FIX(field, a) ((void)0)
#else
#define EC_CREF(T) const T *
#define EC_CADD(r, n, T) ((r) + (n))
#define EC_C_S8(r, i) ((r)[i])
#define EC_C_U8(r, i) ((r)[i])
#define EC_C_S16(r, i) ((r)[i])
#define EC_C_U16(r, i) ((r)[i])
#define EC_C_S32(r, i) ((r)[i])
#define EC_C_S64(r, i) ((r)[i])
#define EC_FLASH_ARRAY
#define EC_CREF_INIT(a) (a)
#endif
/* Element 0 of an int8 reference (byte steps everywhere). */
#define EC_WEIGHT_S8(r) EC_C_S8(r, 0)

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

static inline int32_t ec_min_i32(int32_t a, int32_t b) {
    return a < b ? a : b;
}
static inline int32_t ec_max_i32(int32_t a, int32_t b) {
    return a > b ? a : b;
}
static inline int32_t ec_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* The kernel taps k in [*lo, *hi) whose input position origin + k * dil lies in [0, size): the
 * window of an output position along one axis (the int16 CONV_2D and DEPTHWISE_CONV_2D). */
static inline void ec_valid_taps(int32_t origin, int32_t dil, int32_t k, int32_t size, int32_t *lo, int32_t *hi) {
    int32_t a = 0, b = k;
    while (a < b && origin + a * dil < 0) {
        ++a;
    }
    while (b > a && origin + (b - 1) * dil >= size) {
        --b;
    }
    *lo = a;
    *hi = b;
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

static inline void ec_broadcast_next(const int32_t *out_dims, const int32_t *strides0, const int32_t *strides1,
                                     ec_broadcast_iter_t *it) {
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

/* The whole walk of a two-input kernel whose params p have out_dims, in0_strides and
 * in1_strides: the statements (the last arguments) run once per output element, in order,
 * with the int32_t offsets i0 and i1 of that element's inputs. (ADD and MUL int8 walk runs
 * of their own, for their table and fast paths.) */
#define EC_BROADCAST_EACH(p, i0, i1, ...)                                                  \
    do {                                                                                   \
        const int32_t ec_inner_ = (p)->out_dims[EC_MAX_DIMS - 1];                          \
        const int32_t ec_step0_ = (p)->in0_strides[EC_MAX_DIMS - 1];                       \
        const int32_t ec_step1_ = (p)->in1_strides[EC_MAX_DIMS - 1];                       \
        ec_broadcast_iter_t ec_it_;                                                        \
        int32_t ec_n_, ec_i_;                                                              \
        ec_broadcast_begin((p)->out_dims, &ec_it_);                                        \
        for (ec_n_ = 0; ec_n_ < ec_it_.runs; ++ec_n_) {                                    \
            for (ec_i_ = 0; ec_i_ < ec_inner_; ++ec_i_) {                                  \
                const int32_t i0 = ec_it_.off0 + ec_i_ * ec_step0_;                        \
                const int32_t i1 = ec_it_.off1 + ec_i_ * ec_step1_;                        \
                __VA_ARGS__                                                                \
            }                                                                              \
            ec_broadcast_next((p)->out_dims, (p)->in0_strides, (p)->in1_strides, &ec_it_); \
        }                                                                                  \
    } while (0)

/* The walk of a reduction (MEAN, SUM, REDUCE_MAX, REDUCE_MIN) whose params p have dims (the
 * input's EC_MAX_DIMS dimensions, outermost first) and out_strides (each input dimension's
 * step in the output, 0 along a reduced axis): the statements (the last arguments) run once
 * per input element, in memory order, with elem (a T *) pointing at that element's output in
 * out. */
#define EC_REDUCE_EACH(p, T, out, elem, ...)                                       \
    do {                                                                           \
        const int32_t *const ec_d_ = (p)->dims;                                    \
        const int32_t *const ec_s_ = (p)->out_strides;                             \
        int32_t ec_i0_, ec_i1_, ec_i2_, ec_i3_, ec_i4_, ec_i5_;                    \
        for (ec_i0_ = 0; ec_i0_ < ec_d_[0]; ++ec_i0_) {                            \
            const int32_t ec_o0_ = ec_i0_ * ec_s_[0];                              \
            for (ec_i1_ = 0; ec_i1_ < ec_d_[1]; ++ec_i1_) {                        \
                const int32_t ec_o1_ = ec_o0_ + ec_i1_ * ec_s_[1];                 \
                for (ec_i2_ = 0; ec_i2_ < ec_d_[2]; ++ec_i2_) {                    \
                    const int32_t ec_o2_ = ec_o1_ + ec_i2_ * ec_s_[2];             \
                    for (ec_i3_ = 0; ec_i3_ < ec_d_[3]; ++ec_i3_) {                \
                        const int32_t ec_o3_ = ec_o2_ + ec_i3_ * ec_s_[3];         \
                        for (ec_i4_ = 0; ec_i4_ < ec_d_[4]; ++ec_i4_) {            \
                            T *const ec_run_ = (out) + ec_o3_ + ec_i4_ * ec_s_[4]; \
                            for (ec_i5_ = 0; ec_i5_ < ec_d_[5]; ++ec_i5_) {        \
                                T *const elem = ec_run_ + ec_i5_ * ec_s_[5];       \
                                __VA_ARGS__                                        \
                            }                                                      \
                        }                                                          \
                    }                                                              \
                }                                                                  \
            }                                                                      \
        }                                                                          \
    } while (0)

#endif /* EC_COMMON_H */
