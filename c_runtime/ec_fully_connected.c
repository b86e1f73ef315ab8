/* edgeconv C runtime: FULLY_CONNECTED for int8.
 *
 * Bit-exact with TFLite's reference FullyConnected (per tensor) and FullyConnectedPerChannel.
 * There is no padding, so the input zero point folds into the bias completely.
 *
 * Output units are computed EC_FC_ROWS (4) at a time: each word of four inputs is loaded
 * (and, on the DSP path, sign-extended) once and multiplied with four rows, whose weights the
 * compiler stores interleaved by groups of four (ec_fully_connected.h), so one pointer walks
 * them. The units beyond the last whole block are computed one at a time. Every row is
 * zero-padded to a multiple of four weights; the kernel never reads the input past `depth`:
 * the last, partial group of inputs is assembled byte by byte with zeros after it.
 * - Portable path: one multiply-accumulate per weight.
 * - Arm DSP path (EC_DOT_DSP): SXTB16 turns four int8 (x0, x1, x2, x3) into the halfword
 *   pairs (x0, x2) and (x1, x3), SMLAD adds two products per instruction. int8 weights are
 *   extended the same way (two SXTB16 per four weights and row, each weight being used once
 *   per batch); int16 weights are stored already extended in the (w0, w2), (w1, w3) order.
 *   Weight words come two at a time (LDRD, the arrays being aligned). Per group of four
 *   inputs, a block of four rows costs 23 instructions with int8 weights and 17 with int16
 *   on a Cortex-M4 (1.44 and 1.06 per MAC). The outputs of a block take a shorter sequence
 *   when the layer has one multiplier, a right shift and no activation (the usual case).
 * Both paths read the same params and data and form the same int32 sums (the same products,
 * added in another order; the zero padding adds 0 * 0).
 *
 * Why no step leaves int32 (proved per model at compile time in edgeconv/lowering/ops/fully_connected.py,
 * mac.py and ranges.py, which refuse the layer otherwise): every partial sum is the folded
 * bias plus a subset of the products x * w, whatever the order or pairing SMLAD adds them in,
 * so it is bounded by |bias'| + 128 * sum|w| (check_accumulator); ec_requantize's left shift
 * and the addition of the output zero point: check_requantize; offsets are below the tensors'
 * element counts (< 2^28, the reader's limit; the lowering refuses padded weight arrays of
 * 2^31 elements or more); the clamp bounds lie in [-128, 127], so the
 * narrowing to int8_t is exact.
 */
#include <string.h>

#include "ec_fully_connected.h"
#include "ec_dot.h"
#include "ec_fixedpoint.h"

/* The last n (1..3) inputs of a row as a little-endian word, zero above them. */
static inline uint32_t tail_word(const int8_t *x, int32_t n) {
    uint32_t v = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        v |= (uint32_t)(uint8_t)x[i] << (8 * i);
    }
    return v;
}

/* What every output needs, copied out of the params: the stores through int8_t pointers
 * may alias anything in memory, so fields read through p would be reloaded after each. */
typedef struct {
    int32_t full, rem;     /* whole groups of four inputs, inputs in the last partial group */
    EC_CREF(int32_t) bias; /* references to constants (ec_common.h) */
    EC_CREF(int32_t) multiplier;
    EC_CREF(int32_t) shift;
    int32_t ch_step; /* 1: per-channel multipliers, 0: one for the tensor */
    int32_t output_zp, act_min, act_max;
    /* The common case, taken with fewer instructions on the DSP path: one multiplier for the
     * tensor, a right shift (exponent0 = -shift >= 1) and no activation (the clamp is SSAT). */
    int32_t simple, multiplier0, exponent0;
} fc_ctx_t;

static inline int8_t fc_output(const fc_ctx_t *c, int32_t acc, int32_t u) {
    const int32_t ch = u * c->ch_step;
    acc = ec_requantize(acc, EC_C_S32(c->multiplier, ch), (int)EC_C_S32(c->shift, ch)) + c->output_zp;
    return (int8_t)ec_clamp_i32(acc, c->act_min, c->act_max);
}

static inline int32_t fc_bias(const fc_ctx_t *c, int32_t u) {
    return c->bias ? EC_C_S32(c->bias, u) : 0;
}

#ifdef EC_DOT_DSP
#include <arm_acle.h>

/* The four outputs of a block. */
static inline void fc_store4(const fc_ctx_t *c, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t u,
                             int8_t *out) {
    if (c->simple) {
        /* Read before the first store, which could alias *c as far as the compiler knows. */
        const int32_t m = c->multiplier0, zp = c->output_zp;
        const int e = (int)c->exponent0;
        out[u] = (int8_t)__ssat(ec_rounding_divide_by_pot_pos(ec_rounding_doubling_high_mul_nosat(a0, m), e) + zp, 8);
        out[u + 1] =
            (int8_t)__ssat(ec_rounding_divide_by_pot_pos(ec_rounding_doubling_high_mul_nosat(a1, m), e) + zp, 8);
        out[u + 2] =
            (int8_t)__ssat(ec_rounding_divide_by_pot_pos(ec_rounding_doubling_high_mul_nosat(a2, m), e) + zp, 8);
        out[u + 3] =
            (int8_t)__ssat(ec_rounding_divide_by_pot_pos(ec_rounding_doubling_high_mul_nosat(a3, m), e) + zp, 8);
        return;
    }
    out[u] = fc_output(c, a0, u);
    out[u + 1] = fc_output(c, a1, u + 1);
    out[u + 2] = fc_output(c, a2, u + 2);
    out[u + 3] = fc_output(c, a3, u + 3);
}

/* The weights are 16-byte aligned arrays (EC_ALIGN in the generated code) and every block and
 * row starts at a multiple of 4 weights, so word loads of them are aligned, as LDRD needs
 * (word alignment on Armv7-M and Armv8-M). The inputs carry no such promise (memcpy, which
 * becomes an unaligned LDR). */
#if defined(__GNUC__)
#define EC_FC_ALIGNED4(ptr) __builtin_assume_aligned((ptr), 4)
#else
#define EC_FC_ALIGNED4(ptr) (ptr)
#endif

/* Each block and row loop is its own function: inlined together into one, their live values
 * spill into a 256-byte frame; apart, the deepest call chain uses about half of that. */
#if defined(__GNUC__)
#define EC_FC_LOOP static __attribute__((noinline))
#else
#define EC_FC_LOOP static
#endif

/* acc += the four products of one weight word (int8, natural order) with the extended
 * inputs xe = (x0, x2), xo = (x1, x3). */
static inline int32_t mac4_s8(uint32_t xe, uint32_t xo, uint32_t w, int32_t acc) {
    acc = ec_smlad(xe, ec_sxtb16(w), acc);
    return ec_smlad(xo, ec_sxtb16_ror8(w), acc);
}

/* Two weight words from an aligned address, in one LDRD that also steps the pointer by 8
 * bytes (little-endian: the first word is the lower address). GCC splits 8-byte copies into
 * word loads, hence this one instruction of inline asm; the weights are constant, so the asm
 * needs no memory operand. */
static inline void load2_step(const void **w, uint32_t *first, uint32_t *second) {
    __asm__("ldrd %0, %1, [%2], #8" : "=&r"(*first), "=&r"(*second), "+r"(*w));
}

/* acc0..acc3 += one group of four inputs (extended: xe, xo) times the block's four rows. The
 * block's weights start 16-byte aligned (a multiple of 16 weights into the array), so each
 * group's 16 bytes load as two LDRD. */
#define EC_FC_GROUP_S8(xe, xo, w, a0, a1, a2, a3) \
    do {                                          \
        uint32_t w0_, w1_, w2_, w3_;              \
        load2_step(&(w), &w0_, &w1_);             \
        load2_step(&(w), &w2_, &w3_);             \
        (a0) = mac4_s8((xe), (xo), w0_, (a0));    \
        (a1) = mac4_s8((xe), (xo), w1_, (a1));    \
        (a2) = mac4_s8((xe), (xo), w2_, (a2));    \
        (a3) = mac4_s8((xe), (xo), w3_, (a3));    \
    } while (0)

/* Four rows u..u+3: w points at the block's interleaved weights. */
EC_FC_LOOP void block_s8(const fc_ctx_t *c, const int8_t *x, const int8_t *weights, int32_t u, int8_t *out) {
    int32_t a0 = fc_bias(c, u), a1 = fc_bias(c, u + 1), a2 = fc_bias(c, u + 2), a3 = fc_bias(c, u + 3);
    const int8_t *const x_end = x + 4 * c->full;
    const void *w = weights;
    uint32_t xv, xe, xo;
    while (x != x_end) {
        memcpy(&xv, x, 4);
        xe = ec_sxtb16(xv);
        xo = ec_sxtb16_ror8(xv);
        EC_FC_GROUP_S8(xe, xo, w, a0, a1, a2, a3);
        x += 4;
    }
    if (c->rem) {
        xv = tail_word(x, c->rem);
        xe = ec_sxtb16(xv);
        xo = ec_sxtb16_ror8(xv);
        EC_FC_GROUP_S8(xe, xo, w, a0, a1, a2, a3);
    }
    fc_store4(c, a0, a1, a2, a3, u, out);
}

/* acc += four int16 weights, stored (w0, w2, w1, w3), times the extended inputs. */
#define EC_FC_MAC4_S16(xe, xo, w, acc)       \
    do {                                     \
        uint32_t w02_, w13_;                 \
        load2_step(&(w), &w02_, &w13_);      \
        (acc) = ec_smlad((xe), w02_, (acc)); \
        (acc) = ec_smlad((xo), w13_, (acc)); \
    } while (0)

EC_FC_LOOP void block_s16(const fc_ctx_t *c, const int8_t *x, const int16_t *weights, int32_t u, int8_t *out) {
    int32_t a0 = fc_bias(c, u), a1 = fc_bias(c, u + 1), a2 = fc_bias(c, u + 2), a3 = fc_bias(c, u + 3);
    const int8_t *const x_end = x + 4 * c->full;
    const void *w = weights;
    uint32_t xv, xe, xo;
    while (x != x_end) {
        memcpy(&xv, x, 4);
        x += 4;
        xe = ec_sxtb16(xv);
        xo = ec_sxtb16_ror8(xv);
        EC_FC_MAC4_S16(xe, xo, w, a0);
        EC_FC_MAC4_S16(xe, xo, w, a1);
        EC_FC_MAC4_S16(xe, xo, w, a2);
        EC_FC_MAC4_S16(xe, xo, w, a3);
    }
    if (c->rem) {
        xv = tail_word(x, c->rem);
        xe = ec_sxtb16(xv);
        xo = ec_sxtb16_ror8(xv);
        EC_FC_MAC4_S16(xe, xo, w, a0);
        EC_FC_MAC4_S16(xe, xo, w, a1);
        EC_FC_MAC4_S16(xe, xo, w, a2);
        EC_FC_MAC4_S16(xe, xo, w, a3);
    }
    fc_store4(c, a0, a1, a2, a3, u, out);
}

/* One row u, its weights contiguous (word aligned: a multiple of 4 weights into the array). */
EC_FC_LOOP void row_s8(const fc_ctx_t *c, const int8_t *x, const int8_t *w, int32_t u, int8_t *out) {
    int32_t acc = fc_bias(c, u);
    const int8_t *const x_end = x + 4 * c->full;
    uint32_t xv, wv;
    while (x != x_end) {
        memcpy(&xv, x, 4);
        memcpy(&wv, EC_FC_ALIGNED4(w), 4);
        x += 4;
        w += 4;
        acc = mac4_s8(ec_sxtb16(xv), ec_sxtb16_ror8(xv), wv, acc);
    }
    if (c->rem) {
        xv = tail_word(x, c->rem);
        memcpy(&wv, EC_FC_ALIGNED4(w), 4);
        acc = mac4_s8(ec_sxtb16(xv), ec_sxtb16_ror8(xv), wv, acc);
    }
    out[u] = fc_output(c, acc, u);
}

EC_FC_LOOP void row_s16(const fc_ctx_t *c, const int8_t *x, const int16_t *weights, int32_t u, int8_t *out) {
    int32_t acc = fc_bias(c, u);
    const int8_t *const x_end = x + 4 * c->full;
    const void *w = weights;
    uint32_t xv, xe, xo;
    while (x != x_end) {
        memcpy(&xv, x, 4);
        x += 4;
        xe = ec_sxtb16(xv);
        xo = ec_sxtb16_ror8(xv);
        EC_FC_MAC4_S16(xe, xo, w, acc);
    }
    if (c->rem) {
        xv = tail_word(x, c->rem);
        xe = ec_sxtb16(xv);
        xo = ec_sxtb16_ror8(xv);
        EC_FC_MAC4_S16(xe, xo, w, acc);
    }
    out[u] = fc_output(c, acc, u);
}

#else /* portable: weights read through EC_C_S8/S16 (ec_common.h: program memory on an AVR) */

/* Weight j of a group as the layout stores it: int16 groups are (w0, w2, w1, w3). */
static const int32_t ec_fc_s16_slot[4] = {0, 2, 1, 3};

/* block_s16 below is its twin for the int16 weight layout (groups (w0, w2, w1, w3) read through
 * EC_C_S16): kept apart so a firmware links only the layout it uses. */
static void block_s8(const fc_ctx_t *c, const int8_t *x, EC_CREF(int8_t) w, int32_t u, int8_t *out) {
    const int32_t groups = c->full + (c->rem ? 1 : 0);
    int32_t acc[EC_FC_ROWS];
    int32_t k, r, j;
    for (r = 0; r < EC_FC_ROWS; ++r) {
        acc[r] = fc_bias(c, u + r);
    }
    for (k = 0; k < groups; ++k) {
        const int32_t n = k < c->full ? 4 : c->rem;
        for (r = 0; r < EC_FC_ROWS; ++r) {
            for (j = 0; j < n; ++j) {
                acc[r] += (int32_t)x[4 * k + j] * (int32_t)EC_WEIGHT_S8(w + (k * EC_FC_ROWS + r) * 4 + j);
            }
        }
    }
    for (r = 0; r < EC_FC_ROWS; ++r) {
        out[u + r] = fc_output(c, acc[r], u + r);
    }
}

/* The int16-weight twin of block_s8 above (slots ec_fc_s16_slot): kept apart so a firmware
 * links only the layout it uses. */
static void block_s16(const fc_ctx_t *c, const int8_t *x, EC_CREF(int16_t) w, int32_t u, int8_t *out) {
    const int32_t groups = c->full + (c->rem ? 1 : 0);
    int32_t acc[EC_FC_ROWS];
    int32_t k, r, j;
    for (r = 0; r < EC_FC_ROWS; ++r) {
        acc[r] = fc_bias(c, u + r);
    }
    for (k = 0; k < groups; ++k) {
        const int32_t n = k < c->full ? 4 : c->rem;
        for (r = 0; r < EC_FC_ROWS; ++r) {
            for (j = 0; j < n; ++j) {
                acc[r] += (int32_t)x[4 * k + j] *
                          (int32_t)EC_C_S16(EC_CADD(w, (k * EC_FC_ROWS + r) * 4, int16_t), ec_fc_s16_slot[j]);
            }
        }
    }
    for (r = 0; r < EC_FC_ROWS; ++r) {
        out[u + r] = fc_output(c, acc[r], u + r);
    }
}

static void row_s8(const fc_ctx_t *c, const int8_t *x, EC_CREF(int8_t) w, int32_t u, int8_t *out) {
    const int32_t n = 4 * c->full + c->rem;
    int32_t acc = fc_bias(c, u);
    int32_t i;
    for (i = 0; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)EC_WEIGHT_S8(w + i);
    }
    out[u] = fc_output(c, acc, u);
}

static void row_s16(const fc_ctx_t *c, const int8_t *x, EC_CREF(int16_t) w, int32_t u, int8_t *out) {
    const int32_t n = 4 * c->full + c->rem;
    int32_t acc = fc_bias(c, u);
    int32_t i;
    for (i = 0; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)EC_C_S16(EC_CADD(w, 4 * (i / 4), int16_t), ec_fc_s16_slot[i % 4]);
    }
    out[u] = fc_output(c, acc, u);
}

#endif

/* The driver of both entry points, inlined into each with its weight form (wide: int16) a
 * constant on the DSP path, so that each references only its own loops and a firmware links
 * only the loops its layers use. The portable loops are small: there both entry points read
 * whichever form is set. */
#if defined(__GNUC__)
#define EC_FC_DRIVER static inline __attribute__((always_inline))
#else
#define EC_FC_DRIVER static inline
#endif
#ifdef EC_DOT_DSP
#define EC_FC_WIDE(wide, weights16) (wide)
#else
#define EC_FC_WIDE(wide, weights16) ((void)(wide), (weights16) != 0)
#endif

EC_FC_DRIVER void fc_run(const ec_fully_connected_params_t *p, const int8_t *input, int8_t *output, const int wide) {
    const int32_t depth = p->depth, units = p->units, batches = p->batches;
    const int32_t row_len = 4 * p->depth_words; /* padded row length in weights */
    const int32_t blocked = units - units % EC_FC_ROWS;
    EC_CREF(int8_t) const weights = p->weights;
    EC_CREF(int16_t) const weights16 = p->weights16;
    const int use16 = EC_FC_WIDE(wide, weights16);
    fc_ctx_t c;
    int32_t b, u;
    if (units <= 0) { /* nothing to compute (and no multiplier to read) */
        return;
    }
    c.full = depth / 4;
    c.rem = depth % 4;
    c.bias = p->bias;
    c.multiplier = p->multiplier;
    c.shift = p->shift;
    c.ch_step = p->per_channel ? 1 : 0;
    c.output_zp = p->output_zp;
    c.act_min = p->act_min;
    c.act_max = p->act_max;
    c.simple = !p->per_channel && EC_C_S32(p->shift, 0) < 0 && p->act_min == -128 && p->act_max == 127;
    c.multiplier0 = EC_C_S32(p->multiplier, 0);
    c.exponent0 = -EC_C_S32(p->shift, 0);
    for (b = 0; b < batches; ++b) {
        const int8_t *x = input + b * depth;
        int8_t *out = output + b * units;
        for (u = 0; u < blocked; u += EC_FC_ROWS) {
            if (use16) {
                block_s16(&c, x, EC_CADD(weights16, u * row_len, int16_t), u, out);
            } else {
                block_s8(&c, x, EC_CADD(weights, u * row_len, int8_t), u, out);
            }
        }
        for (; u < units; ++u) {
            if (use16) {
                row_s16(&c, x, EC_CADD(weights16, u * row_len, int16_t), u, out);
            } else {
                row_s8(&c, x, EC_CADD(weights, u * row_len, int8_t), u, out);
            }
        }
    }
}

void ec_fully_connected_s8(const ec_fully_connected_params_t *p, const int8_t *input, int8_t *output) {
    fc_run(p, input, output, 0);
}

void ec_fully_connected_s8_w16(const ec_fully_connected_params_t *p, const int8_t *input, int8_t *output) {
    fc_run(p, input, output, 1);
}

/* ---- FULLY_CONNECTED 16x8 (ec_fully_connected_s16) ----------------------------------------
 *
 * Bit-exact with TFLite's reference FullyConnected(PerChannel) for int16 input: per unit the
 * dot product of the input row and the weight row, plus the bias, requantized
 * (ec_mac16_output). Units in blocks of 4 (ec_fully_connected.h): the whole quads of inputs
 * through ec_dot4_s16x8* (each input word loaded once for 4 units; DSP: SMLAD / SMLALD), then
 * the last depth % 4 inputs one by one, so the kernel reads exactly depth inputs. Portable and
 * DSP paths add the same products per unit in another order: equal sums.
 * Why nothing overflows: offsets are below the padded weight count (the lowering refuses 2^31
 * or more); partial sums: ec_dot.h (sum32 proved per layer, else int64); sum + bias and the
 * requantization: ec_mac16_output*; the clamp bounds lie in int16. */
void ec_fully_connected_s16(const ec_fully_connected_s16_params_t *p, const int16_t *input, int16_t *output) {
    const int32_t depth = p->depth, units = p->units, dw = p->depth_words;
    const int32_t full = depth / 4, rem = depth % 4;
    const int32_t sum32 = p->sum32, acc32 = p->acc32, act_min = p->act_min, act_max = p->act_max;
    const int32_t rq_step = p->per_channel ? 2 : 0;
    EC_CREF(int64_t) const bias = p->bias;
    int32_t b, u, lane, i;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *const x = input + b * depth;
        int16_t *const out = output + b * units;
        for (u = 0; u < units; u += 4) {
            EC_CREF(int8_t) const w = EC_CADD(p->weights, u * 4 * dw, int8_t); /* the block's first quad */
            EC_CREF(int8_t) const tail = EC_CADD(w, 16 * full, int8_t);        /* the block's partial quad */
            const int32_t lanes = units - u < 4 ? units - u : 4;
            if (sum32) {
                int32_t s[4];
                ec_dot4_s16x8(x, w, 4 * full, s);
                for (lane = 0; lane < lanes; ++lane) {
                    for (i = 0; i < rem; ++i) {
                        s[lane] += (int32_t)x[4 * full + i] * EC_WEIGHT_S8(tail + 4 * lane + EC_S16_SLOT(i));
                    }
                    out[u + lane] =
                        ec_mac16_output32(s[lane], bias ? EC_C_S64(bias, u + lane) : 0,
                                          EC_CADD(p->requant, (u + lane) * rq_step, int32_t), acc32, act_min, act_max);
                }
            } else {
                int64_t s[4];
                ec_dot4_s16x8_64(x, w, 4 * full, s);
                for (lane = 0; lane < lanes; ++lane) {
                    for (i = 0; i < rem; ++i) {
                        s[lane] += (int32_t)x[4 * full + i] * EC_WEIGHT_S8(tail + 4 * lane + EC_S16_SLOT(i));
                    }
                    out[u + lane] =
                        ec_mac16_output(s[lane], bias ? EC_C_S64(bias, u + lane) : 0,
                                        EC_CADD(p->requant, (u + lane) * rq_step, int32_t), acc32, act_min, act_max);
                }
            }
        }
    }
}
